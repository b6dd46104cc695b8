import { LOG2E, QattnError, type ResolvedShape } from '@qattn/quant-core';
import { type GpuContext, type GpuDType, WebGpuTensor } from '@qattn/webgpu-runtime';
import type { ResolvedFlashInt8Options } from '../options.js';
import { type AttentionDims, encodeInt8Attention, type Int8AttentionVariant } from './attn-fwd-int8.js';
import { encodeChannelMean, type TokenView } from './channel-mean.js';
import { storageBuffer } from './dispatch.js';
import { encodeQuantizeRows } from './quantize-rows.js';
import { encodeQuantizeV, type VLayout, vElementsPerWord, vScaleBlocks } from './quantize-v.js';
import { type AttentionSchedule, chooseAttentionSchedule, type ScheduleOverrides } from './schedule.js';

/** Knobs of the WebGPU path that are not algorithm options (those live in the shared option table). */
export interface WebGpuRunOptions {
  /** Output element type. `'float16'` needs the `shader-f16` feature. Default `'float32'`. */
  outputDType?: GpuDType;
  /**
   * Use plain integer math instead of `dot4I8Packed` even where `packed_4x8_integer_dot_product` exists (tests of the
   * fallback path run it on every adapter).
   */
  forcePlainIntegerDot?: boolean;
  /** Pins fields of the attention kernel's schedule instead of the rule's choice (benchmarks of alternatives, tests). */
  schedule?: ScheduleOverrides;
}

/** Everything one call needs, decided up front from the shape, options and device (no GPU work). */
export interface FlashInt8Plan {
  shape: ResolvedShape;
  schedule: AttentionSchedule;
  variant: Int8AttentionVariant;
  vLayout: VLayout;
  dims: AttentionDims;
  qView: TokenView;
  kvView: TokenView;
  qRowsPerScale: number;
  kRowsPerScale: number;
  smoothK: boolean;
  smoothV: boolean;
  /** V scale blocks along keys, and kernel key tiles per block. */
  vScaleBlocks: { blocks: number; tilesPerBlock: number };
}

/** Checks that a call fits the device and the kernels, and fixes its schedule and variant. */
export function planFlashInt8(
  context: GpuContext,
  shape: ResolvedShape,
  scale: number,
  causal: boolean,
  options: ResolvedFlashInt8Options,
  run: WebGpuRunOptions = {},
): FlashInt8Plan {
  const outputF16 = (run.outputDType ?? 'float32') === 'float16';
  if (outputF16 && !context.capabilities.shaderF16) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', "flash-int8 webgpu: outputDType 'float16' needs the shader-f16 feature, which this adapter lacks", {
      option: 'outputDType',
    });
  }
  if (options.hadamard) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', 'flash-int8 webgpu: hadamard: true is not implemented on WebGPU (use the cpu backend)', {
      option: 'hadamard',
    });
  }
  const schedule = chooseAttentionSchedule(
    options.pv === 'int8' ? 'int8' : 'int8-pv-fp16',
    shape.headDim,
    { ...context.limits, software: context.software },
    options.blockN,
    run.schedule,
    { seqQ: shape.seqQ, causal },
  );
  const variant: Int8AttentionVariant = {
    pv: options.pv,
    pScale: options.pScale,
    pCodeMax: options.pCodeMax,
    packedDot4: context.capabilities.packedDot4 && !run.forcePlainIntegerDot,
    outputF16,
  };
  const kvView = { groups: shape.batch * shape.kvHeads, tokens: shape.seqKV, channels: shape.headDim };
  const qView = { groups: shape.batch * shape.heads, tokens: shape.seqQ, channels: shape.headDim };
  const blockChannel = options.pv === 'int8' && options.vGranularity === 'blockChannel';
  if (blockChannel && options.blockN % schedule.blockN !== 0) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `flash-int8 webgpu: vGranularity 'blockChannel' needs blockN (${options.blockN}) to be a multiple of the kernel's key tile (${schedule.blockN})`,
      { option: 'blockN' },
    );
  }
  const vLayout: VLayout = {
    pv: options.pv,
    blockTokens: blockChannel ? options.blockN : shape.seqKV,
    perHead: options.vGranularity === 'head',
  };
  const blocks = vScaleBlocks(kvView, vLayout);
  const tilesPerBlock = blockChannel ? options.blockN / schedule.blockN : Math.ceil(shape.seqKV / schedule.blockN);
  const qRowsPerScale = options.qkGranularity === 'token' ? 1 : options.blockM;
  const kRowsPerScale = options.qkGranularity === 'token' ? 1 : options.blockN;
  const maxGroups = context.limits.maxComputeWorkgroupsPerDimension;
  const widest = Math.max(Math.ceil(shape.seqQ / qRowsPerScale), Math.ceil(shape.seqKV / kRowsPerScale), shape.batch * shape.heads);
  if (widest > maxGroups) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `flash-int8 webgpu: the shape needs ${widest} workgroups along one dimension; this device allows ${maxGroups}`, {
      limit: 'maxComputeWorkgroupsPerDimension',
    });
  }
  // One binding per tensor: the largest must fit a storage binding (128 MiB by default, the adapter's maximum here).
  const largestBinding = Math.max(shape.qElements, shape.kvElements) * 4;
  if (largestBinding > context.limits.maxStorageBufferBindingSize) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `flash-int8 webgpu: a tensor of ${largestBinding} bytes exceeds this device's maxStorageBufferBindingSize (${context.limits.maxStorageBufferBindingSize}); split the batch or heads`,
      { limit: 'maxStorageBufferBindingSize' },
    );
  }
  return {
    shape,
    schedule,
    variant,
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
    qRowsPerScale,
    kRowsPerScale,
    smoothK: options.smoothK,
    smoothV: options.smoothV,
    vScaleBlocks: { blocks, tilesPerBlock },
  };
}

/** Device buffers of the quantized operands of one call (allocated once, reusable across repeats of the same plan). */
export interface FlashInt8Workspace {
  qCodes: GPUBuffer;
  qScale: GPUBuffer;
  kCodes: GPUBuffer;
  kScale: GPUBuffer;
  kMean: GPUBuffer;
  vCodes: GPUBuffer;
  vScale: GPUBuffer;
  vMean: GPUBuffer;
  bytes: number;
  destroy(): void;
}

/** Allocates the workspace of a plan. Buffers start zeroed (WebGPU guarantees it): an unused V mean adds nothing. */
export function allocateWorkspace(context: GpuContext, plan: FlashInt8Plan): FlashInt8Workspace {
  const { qView, kvView } = plan;
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
  const buffers = Object.fromEntries(
    Object.entries(sizes).map(([name, bytes]) => [name, storageBuffer(context, bytes, `qattn flash-int8 ${name}`)]),
  ) as Record<keyof typeof sizes, GPUBuffer>;
  if (plan.vLayout.pv === 'fp16') {
    // f16 V needs no scale: P·V reads 1.0 for every channel.
    context.device.queue.writeBuffer(buffers.vScale, 0, new Float32Array(plan.vScaleBlocks.blocks * kvView.groups * kvView.channels).fill(1));
  }
  return {
    ...buffers,
    bytes: Object.values(sizes).reduce((a, b) => a + Math.max(4, Math.ceil(b / 4) * 4), 0),
    destroy() {
      for (const buffer of Object.values(buffers)) buffer.destroy();
    },
  };
}

/** The quantization pre-pass's ops in encoding order: K (and V) means, Q and K to INT8 rows, V to its transposed layout. */
export type QuantizationOp = 'kMean' | 'vMean' | 'q' | 'k' | 'v';

/** The ops {@link encodeQuantization} encodes for `plan`, in order (per-op timing marks go between them). */
export function quantizationOps(plan: FlashInt8Plan): QuantizationOp[] {
  return [...(plan.smoothK ? (['kMean'] as const) : []), ...(plan.smoothV ? (['vMean'] as const) : []), 'q', 'k', 'v'];
}

/**
 * Encodes the quantization pre-pass ({@link quantizationOps}); `afterOp(i)` runs after the i-th op is encoded
 * (benchmarks put a timestamp there).
 */
export function encodeQuantization(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  plan: FlashInt8Plan,
  workspace: FlashInt8Workspace,
  inputs: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer },
  afterOp?: (index: number) => void,
): GPUBuffer[] {
  const encoders: Record<QuantizationOp, () => GPUBuffer[]> = {
    kMean: () => encodeChannelMean(context, encoder, inputs.k, workspace.kMean, plan.kvView),
    vMean: () => encodeChannelMean(context, encoder, inputs.v, workspace.vMean, plan.kvView),
    q: () => encodeQuantizeRows(context, encoder, inputs.q, undefined, { codes: workspace.qCodes, rowScale: workspace.qScale }, plan.qView, plan.qRowsPerScale),
    k: () =>
      encodeQuantizeRows(
        context,
        encoder,
        inputs.k,
        plan.smoothK ? workspace.kMean : undefined,
        { codes: workspace.kCodes, rowScale: workspace.kScale },
        plan.kvView,
        plan.kRowsPerScale,
      ),
    v: () =>
      encodeQuantizeV(
        context,
        encoder,
        inputs.v,
        plan.smoothV ? workspace.vMean : undefined,
        { codes: workspace.vCodes, scale: workspace.vScale },
        plan.kvView,
        plan.vLayout,
      ),
  };
  const transient: GPUBuffer[] = [];
  quantizationOps(plan).forEach((op, index) => {
    transient.push(...encoders[op]());
    afterOp?.(index);
  });
  return transient;
}

/** Encodes the attention kernel on a quantized workspace, writing `out`. */
export function encodeAttention(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  plan: FlashInt8Plan,
  workspace: FlashInt8Workspace,
  out: GPUBuffer,
  timestampWrites?: GPUComputePassTimestampWrites,
): GPUBuffer[] {
  return encodeInt8Attention(
    context,
    encoder,
    plan.schedule,
    plan.variant,
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
    plan.vScaleBlocks,
    timestampWrites,
  );
}

/**
 * Runs the whole call on device-resident q, k, v (float32 tensors on `context`'s device) and returns a new output
 * tensor `[batch, heads, seqQ, headDim]`. Nothing waits for the GPU: intermediates are destroyed right after the
 * submit (WebGPU lets submitted work finish with them), so layers chain without host synchronization.
 */
export function runFlashInt8OnDevice(
  context: GpuContext,
  plan: FlashInt8Plan,
  inputs: { q: WebGpuTensor; k: WebGpuTensor; v: WebGpuTensor },
): WebGpuTensor {
  const { shape } = plan;
  const out = WebGpuTensor.empty(context, [shape.batch, shape.heads, shape.seqQ, shape.headDim], plan.variant.outputF16 ? 'float16' : 'float32');
  const workspace = allocateWorkspace(context, plan);
  const transient: GPUBuffer[] = [];
  try {
    const encoder = context.device.createCommandEncoder({ label: 'qattn flash-int8' });
    const buffers = { q: inputs.q.buffer, k: inputs.k.buffer, v: inputs.v.buffer };
    transient.push(...encodeQuantization(context, encoder, plan, workspace, buffers));
    transient.push(...encodeAttention(context, encoder, plan, workspace, out.buffer));
    context.device.queue.submit([encoder.finish()]);
  } catch (err) {
    out.dispose();
    throw err;
  } finally {
    workspace.destroy();
    for (const buffer of transient) buffer.destroy();
  }
  return out;
}
