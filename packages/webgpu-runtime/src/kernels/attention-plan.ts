import { LOG2E, QattnError, type ResolvedShape } from '@qattn/quant-core';
import type { GpuContext } from '../device.js';
import type { GpuDType } from '../tensor.js';
import { type AttentionDims, encodeInt8Attention, type Int8AttentionKernel, int8AttentionUniforms } from './attn-fwd-int8.js';
import { channelMeanUniforms, encodeChannelMean, type TokenView } from './channel-mean.js';
import { chooseSasPrecision, type SasPrecision } from './exponent.js';
import { storageBuffer, uniformBuffer } from './dispatch.js';
import { encodeQuantizeRows, quantizeRowsUniforms, quantizeRowsWorkgroups } from './quantize-rows.js';
import { encodeQuantizeV, quantizeVUniforms, type VLayout, vElementsPerWord, vScaleBlocks } from './quantize-v.js';
import { type AttentionSchedule, chooseAttentionSchedule, isSupportedHeadDim, type ScheduleOverrides } from './schedule.js';
import { checkQuantizedAttentionVariant, type QuantizedAttentionVariant, quantizedAttentionVariantKey } from './variant.js';

/** Knobs of the WebGPU path that are not algorithm options (those are the variant). */
export interface WebGpuRunOptions {
  /** Output element type. `'float16'` needs the `shader-f16` feature. Default `'float32'`. */
  outputDType?: GpuDType;
  /**
   * Use plain integer math instead of `dot4I8Packed` even where `packed_4x8_integer_dot_product` exists (tests of the
   * fallback path run it on every adapter).
   */
  forcePlainIntegerDot?: boolean;
  /**
   * Evaluate SAS in this arithmetic instead of the device's default (`chooseSasPrecision`): `'f16'` needs
   * `shader-f16`. Tests and benchmarks of both paths on one adapter.
   */
  sasPrecision?: SasPrecision;
  /** Pins fields of the attention kernel's schedule instead of the rule's choice (benchmarks of alternatives, tests). */
  schedule?: ScheduleOverrides;
}

/**
 * An attention kernel of a kernel package that runs in place of `attn_fwd_int8.wgsl` on a plan's quantized workspace
 * (same bindings, same uniform buffer: {@link encodeInt8Attention}'s), e.g. flash-int8's subgroup-matrix kernel.
 */
export interface AttentionKernelOverride {
  /** Names the kernel in plan cache keys: everything its WGSL depends on. */
  readonly key: string;
  /** Encodes the attention pass writing `out`, as {@link encodeAttention} would. */
  encode(
    context: GpuContext,
    encoder: GPUCommandEncoder,
    plan: QuantizedAttentionPlan,
    workspace: QuantizedAttentionWorkspace,
    out: GPUBuffer,
    timestampWrites?: GPUComputePassTimestampWrites,
  ): void;
}

/** One call to plan: a shape, the softmax scale and mask, the variant, and run knobs. */
export interface AttentionPlanRequest {
  /** Names the caller in errors and buffer labels, e.g. `'turbo-attn webgpu'`. */
  label: string;
  shape: ResolvedShape;
  /** Softmax scale σ (the default 1/√headDim already applied). */
  scale: number;
  causal: boolean;
  variant: QuantizedAttentionVariant;
  run?: WebGpuRunOptions;
  /** Runs this kernel instead of the shared dot4 kernel (the quantization passes are the same). */
  attentionKernel?: AttentionKernelOverride;
}

/** Everything one call needs, decided up front from the request and device (no GPU work). */
export interface QuantizedAttentionPlan {
  label: string;
  shape: ResolvedShape;
  variant: QuantizedAttentionVariant;
  schedule: AttentionSchedule;
  kernel: Int8AttentionKernel;
  vLayout: VLayout;
  dims: AttentionDims;
  /** `[batch·heads, seqQ, headDim]` and `[batch·kvHeads, seqKV, headDim]` views of q and of k, v. */
  qView: TokenView;
  kvView: TokenView;
  /** V scale blocks along keys, and kernel key tiles per block. */
  vScaleBlocks: { blocks: number; tilesPerBlock: number };
  /** Plan cache key: the request in a string (label, shape, scale, mask, variant, run knobs). */
  key: string;
  /** The request's kernel in place of the dot4 kernel, if any. */
  attentionKernel?: AttentionKernelOverride;
}

/** The plan cache key of a request (see {@link QuantizedAttentionPlan.key}). */
export function attentionPlanKey(request: AttentionPlanRequest): string {
  const { shape, run = {} } = request;
  const schedule = run.schedule ?? {};
  return [
    request.label,
    `${shape.batch}x${shape.heads}/${shape.kvHeads}x${shape.seqQ}/${shape.seqKV}x${shape.headDim}`,
    `s${request.scale}`,
    request.causal ? 'causal' : 'full',
    quantizedAttentionVariantKey(request.variant),
    run.outputDType ?? 'float32',
    run.forcePlainIntegerDot ? 'intmath' : 'auto-dot',
    `sas-${run.sasPrecision ?? 'auto'}`,
    (['rowsPerThread', 'workgroupSize', 'pvChannelTile', 'heavyTilesFirst'] as const).map((field) => String(schedule[field] ?? '')).join(','),
    request.attentionKernel?.key ?? 'attn_fwd_int8',
  ].join('|');
}

/**
 * Checks that a call fits the device and the kernels and fixes its schedule and SAS precision; throws
 * `ERR_QATTN_UNSUPPORTED` for what the kernels lack (head dims, f16 output or f16 SAS without shader-f16, V scale
 * blocks that split a key tile, shapes past the device's limits) and `ERR_QATTN_OPTION` for a malformed variant or
 * run option.
 */
export function planQuantizedAttention(context: GpuContext, request: AttentionPlanRequest): QuantizedAttentionPlan {
  const { label, shape, scale, causal, run = {} } = request;
  const variant = checkQuantizedAttentionVariant(request.variant);
  if (!isSupportedHeadDim(shape.headDim)) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${label}: headDim ${shape.headDim} is not supported (multiples of 16 from 32 to 256)`, {
      headDim: shape.headDim,
    });
  }
  const outputF16 = (run.outputDType ?? 'float32') === 'float16';
  if (outputF16 && !context.capabilities.shaderF16) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${label}: outputDType 'float16' needs the shader-f16 feature, which this adapter lacks`, {
      option: 'outputDType',
    });
  }
  const sasPrecision = run.sasPrecision ?? chooseSasPrecision(context.capabilities);
  if (sasPrecision !== 'f16' && sasPrecision !== 'f32') {
    throw new QattnError('ERR_QATTN_OPTION', `${label}: sasPrecision must be 'f16' or 'f32', got ${JSON.stringify(sasPrecision)}`, {
      option: 'sasPrecision',
    });
  }
  if (sasPrecision === 'f16' && !context.capabilities.shaderF16) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${label}: sasPrecision 'f16' needs the shader-f16 feature, which this adapter lacks`, {
      option: 'sasPrecision',
    });
  }
  const schedule = chooseAttentionSchedule(
    variant.pv === 'int8' ? 'int8' : 'int8-pv-fp16',
    shape.headDim,
    { ...context.limits, software: context.software },
    variant.blockN,
    run.schedule,
    { seqQ: shape.seqQ, causal },
  );
  const kvView = { groups: shape.batch * shape.kvHeads, tokens: shape.seqKV, channels: shape.headDim };
  const qView = { groups: shape.batch * shape.heads, tokens: shape.seqQ, channels: shape.headDim };
  const keysPerScale = variant.pv === 'int8' ? variant.vScale.keysPerScale : 'all';
  if (keysPerScale !== 'all' && keysPerScale % schedule.blockN !== 0) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `${label}: V scales per ${keysPerScale} keys (blockN) need a multiple of the kernel's key tile (${schedule.blockN}) on this device`,
      { option: 'blockN' },
    );
  }
  const vLayout: VLayout = {
    pv: variant.pv,
    blockTokens: keysPerScale === 'all' ? shape.seqKV : keysPerScale,
    perHead: variant.pv === 'int8' && !variant.vScale.perChannel,
  };
  const tilesPerBlock = keysPerScale === 'all' ? Math.ceil(shape.seqKV / schedule.blockN) : keysPerScale / schedule.blockN;
  const maxGroups = context.limits.maxComputeWorkgroupsPerDimension;
  const widest = Math.max(
    quantizeRowsWorkgroups(shape.seqQ, variant.qRowsPerScale),
    quantizeRowsWorkgroups(shape.seqKV, variant.kRowsPerScale),
    Math.ceil(shape.seqQ / schedule.blockM),
    shape.batch * shape.heads,
  );
  if (widest > maxGroups) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${label}: the shape needs ${widest} workgroups along one dimension; this device allows ${maxGroups}`, {
      limit: 'maxComputeWorkgroupsPerDimension',
    });
  }
  // One binding per tensor: the largest must fit a storage binding (128 MiB by default, the adapter's maximum here).
  const largestBinding = Math.max(shape.qElements, shape.kvElements) * 4;
  if (largestBinding > context.limits.maxStorageBufferBindingSize) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `${label}: a tensor of ${largestBinding} bytes exceeds this device's maxStorageBufferBindingSize (${context.limits.maxStorageBufferBindingSize}); split the batch or heads`,
      { limit: 'maxStorageBufferBindingSize' },
    );
  }
  return {
    label,
    shape,
    variant,
    schedule,
    kernel: { variant, packedDot4: context.capabilities.packedDot4 && !run.forcePlainIntegerDot, outputF16, sasPrecision },
    vLayout,
    dims: {
      batch: shape.batch,
      heads: shape.heads,
      kvHeads: shape.kvHeads,
      seqQ: shape.seqQ,
      seqKV: shape.seqKV,
      causal,
      smScaleLog2: scale * LOG2E,
    },
    qView,
    kvView,
    vScaleBlocks: { blocks: vScaleBlocks(kvView, vLayout), tilesPerBlock },
    key: attentionPlanKey(request),
    ...(request.attentionKernel ? { attentionKernel: request.attentionKernel } : {}),
  };
}

/** Uniform buffers of a plan's passes, written once when its workspace is allocated. */
export interface AttentionUniforms {
  kMean: GPUBuffer;
  vMean: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  vScales: GPUBuffer | undefined;
  vCodes: GPUBuffer;
  attention: GPUBuffer;
}

/** Device buffers of one plan: the quantized operands and the passes' uniforms, reusable by every call of the plan. */
export interface QuantizedAttentionWorkspace {
  qCodes: GPUBuffer;
  qScale: GPUBuffer;
  kCodes: GPUBuffer;
  kScale: GPUBuffer;
  kMean: GPUBuffer;
  vCodes: GPUBuffer;
  vScale: GPUBuffer;
  vMean: GPUBuffer;
  uniforms: AttentionUniforms;
  /** Bytes of the storage buffers. */
  bytes: number;
  /** Frees every buffer (idempotent). Work already submitted finishes with them. */
  destroy(): void;
}

/**
 * Allocates the workspace of a plan and writes its uniforms. Buffers start zeroed (WebGPU guarantees it): an unused
 * V mean adds nothing.
 */
export function allocateWorkspace(context: GpuContext, plan: QuantizedAttentionPlan): QuantizedAttentionWorkspace {
  const { qView, kvView, variant, label } = plan;
  const vWords = Math.ceil(kvView.tokens / vElementsPerWord(plan.vLayout.pv));
  const sizes = {
    qCodes: qView.groups * qView.tokens * qView.channels,
    qScale: qView.groups * qView.tokens * 4,
    kCodes: kvView.groups * kvView.tokens * kvView.channels,
    kScale: kvView.groups * kvView.tokens * 4,
    kMean: kvView.groups * kvView.channels * 4,
    vCodes: kvView.groups * kvView.channels * vWords * 4,
    vScale: kvView.groups * plan.vScaleBlocks.blocks * kvView.channels * 4,
    vMean: kvView.groups * kvView.channels * 4,
  };
  const buffers = Object.fromEntries(Object.entries(sizes).map(([name, bytes]) => [name, storageBuffer(context, bytes, `${label} ${name}`)])) as Record<
    keyof typeof sizes,
    GPUBuffer
  >;
  if (plan.vLayout.pv === 'fp16') {
    // f16 V needs no scale: P·V reads 1.0 for every channel.
    context.device.queue.writeBuffer(buffers.vScale, 0, new Float32Array(plan.vScaleBlocks.blocks * kvView.groups * kvView.channels).fill(1));
  }
  const vUniforms = quantizeVUniforms(kvView, plan.vLayout, variant.smoothV);
  const uniforms: AttentionUniforms = {
    kMean: uniformBuffer(context, channelMeanUniforms(kvView), `${label} params`),
    vMean: uniformBuffer(context, channelMeanUniforms(kvView), `${label} params`),
    q: uniformBuffer(context, quantizeRowsUniforms(qView, variant.qRowsPerScale, false), `${label} params`),
    k: uniformBuffer(context, quantizeRowsUniforms(kvView, variant.kRowsPerScale, variant.smoothK), `${label} params`),
    vScales: vUniforms.scales && uniformBuffer(context, vUniforms.scales, `${label} params`),
    vCodes: uniformBuffer(context, vUniforms.codes, `${label} params`),
    attention: uniformBuffer(context, int8AttentionUniforms(plan.schedule, plan.kernel, plan.dims, plan.vScaleBlocks), `${label} params`),
  };
  const all = [...Object.values(buffers), ...Object.values(uniforms).filter((b): b is GPUBuffer => b !== undefined)];
  return {
    ...buffers,
    uniforms,
    bytes: Object.values(sizes).reduce((a, b) => a + Math.max(4, Math.ceil(b / 4) * 4), 0),
    destroy() {
      for (const buffer of all) buffer.destroy();
    },
  };
}

/** The quantization pre-pass's ops in encoding order: K (and V) means, Q and K to INT8 rows, V to its transposed layout. */
export type QuantizationOp = 'kMean' | 'vMean' | 'q' | 'k' | 'v';

/** The ops {@link encodeQuantization} encodes for `plan`, in order (per-op timing marks go between them). */
export function quantizationOps(plan: QuantizedAttentionPlan): QuantizationOp[] {
  return [...(plan.variant.smoothK ? (['kMean'] as const) : []), ...(plan.variant.smoothV ? (['vMean'] as const) : []), 'q', 'k', 'v'];
}

/** Device-resident float32 inputs of one call. */
export interface AttentionInputs {
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
}

/**
 * Encodes the quantization pre-pass ({@link quantizationOps}); `afterOp(i)` runs after the i-th op is encoded
 * (benchmarks put a timestamp there).
 */
export function encodeQuantization(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  plan: QuantizedAttentionPlan,
  workspace: QuantizedAttentionWorkspace,
  inputs: AttentionInputs,
  afterOp?: (index: number) => void,
): void {
  const { variant, qView, kvView } = plan;
  const { uniforms } = workspace;
  const encoders: Record<QuantizationOp, () => void> = {
    kMean: () => encodeChannelMean(context, encoder, uniforms.kMean, inputs.k, workspace.kMean, kvView),
    vMean: () => encodeChannelMean(context, encoder, uniforms.vMean, inputs.v, workspace.vMean, kvView),
    q: () => encodeQuantizeRows(context, encoder, uniforms.q, inputs.q, undefined, { codes: workspace.qCodes, rowScale: workspace.qScale }, qView, variant.qRowsPerScale),
    k: () =>
      encodeQuantizeRows(
        context,
        encoder,
        uniforms.k,
        inputs.k,
        variant.smoothK ? workspace.kMean : undefined,
        { codes: workspace.kCodes, rowScale: workspace.kScale },
        kvView,
        variant.kRowsPerScale,
      ),
    v: () =>
      encodeQuantizeV(
        context,
        encoder,
        { scales: uniforms.vScales, codes: uniforms.vCodes },
        inputs.v,
        variant.smoothV ? workspace.vMean : undefined,
        { codes: workspace.vCodes, scale: workspace.vScale },
        kvView,
        plan.vLayout,
      ),
  };
  quantizationOps(plan).forEach((op, index) => {
    encoders[op]();
    afterOp?.(index);
  });
}

/** Encodes the attention kernel (the plan's override, else the dot4 kernel) on a quantized workspace, writing `out`. */
export function encodeAttention(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  plan: QuantizedAttentionPlan,
  workspace: QuantizedAttentionWorkspace,
  out: GPUBuffer,
  timestampWrites?: GPUComputePassTimestampWrites,
): void {
  if (plan.attentionKernel) {
    plan.attentionKernel.encode(context, encoder, plan, workspace, out, timestampWrites);
    return;
  }
  encodeInt8Attention(
    context,
    encoder,
    plan.schedule,
    plan.kernel,
    workspace.uniforms.attention,
    {
      qCodes: workspace.qCodes,
      qScale: workspace.qScale,
      kCodes: workspace.kCodes,
      kScale: workspace.kScale,
      vCodes: workspace.vCodes,
      vScale: workspace.vScale,
      vMean: workspace.vMean,
      out,
    },
    plan.dims,
    timestampWrites,
  );
}
