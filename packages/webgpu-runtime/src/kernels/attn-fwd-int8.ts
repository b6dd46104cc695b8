import type { GpuContext } from '../device.js';
import common from './attn_common.wgsl';
import source from './attn_fwd_int8.wgsl';
import { cachedPipeline, encodeDispatch, tileConstants, type UniformWord, wgslConstants, wordLoopBounds } from './dispatch.js';
import { type ExponentWgsl, exponentWgsl, type SasPrecision } from './exponent.js';
import type { QuantizedAttentionVariant } from './variant.js';
import type { AttentionSchedule } from './schedule.js';

/**
 * What the attention kernel's WGSL depends on besides the schedule: the variant's P·V, P and exponent fields, and
 * device knobs (packed dot products, f16 output, SAS's arithmetic).
 */
export interface Int8AttentionKernel {
  variant: Pick<QuantizedAttentionVariant, 'pv' | 'pScale' | 'pCodeMax' | 'exponent' | 'sasThreshold' | 'skipSparseTiles'>;
  /** Use `dot4I8Packed` (language feature `packed_4x8_integer_dot_product`) or plain integer math. */
  packedDot4: boolean;
  outputF16: boolean;
  /** The arithmetic of SAS's polynomial (read only with `variant.exponent: 'sas'`); see `chooseSasPrecision`. */
  sasPrecision: SasPrecision;
}

/** The exponent WGSL a kernel injects. */
function exponentOf(kernel: Int8AttentionKernel): ExponentWgsl {
  return exponentWgsl(kernel.variant.exponent, kernel.variant.sasThreshold, kernel.sasPrecision);
}

/** Device-side operands of the attention kernel (see the layout line of attn_fwd_int8.wgsl). */
export interface Int8AttentionOperands {
  qCodes: GPUBuffer;
  qScale: GPUBuffer;
  kCodes: GPUBuffer;
  kScale: GPUBuffer;
  vCodes: GPUBuffer;
  vScale: GPUBuffer;
  vMean: GPUBuffer;
  out: GPUBuffer;
}

/** Shape values the attention kernels read from their uniform buffer. */
export interface AttentionDims {
  batch: number;
  heads: number;
  kvHeads: number;
  seqQ: number;
  seqKV: number;
  causal: boolean;
  smScaleLog2: number;
}

// Sign-extends byte `i` of a packed word: shift it to the top, then arithmetic-shift back down.
const DOT4_FALLBACK = `fn dot4_i8(a: u32, b: u32) -> i32 {
  var sum = 0;
  for (var i = 0u; i < 4u; i++) {
    let shift = 24u - 8u * i;
    sum += (bitcast<i32>(a << shift) >> 24u) * (bitcast<i32>(b << shift) >> 24u);
  }
  return sum;
}
fn dot4_u8(a: u32, b: u32) -> i32 {
  var sum = 0u;
  for (var i = 0u; i < 4u; i++) {
    sum += ((a >> (8u * i)) & 0xffu) * ((b >> (8u * i)) & 0xffu);
  }
  return i32(sum);
}`;

// dot4U8Packed sums at most 4 · 255² < 2^31, so the i32 conversion is exact.
const DOT4_PACKED = `fn dot4_i8(a: u32, b: u32) -> i32 {
  return dot4I8Packed(a, b);
}
fn dot4_u8(a: u32, b: u32) -> i32 {
  return i32(dot4U8Packed(a, b));
}`;

/** P·V elements per u32 word: 4 int8 codes or 2 f16. */
function pvElementsOf(kernel: Int8AttentionKernel): number {
  return kernel.variant.pv === 'int8' ? 4 : 2;
}

/** The generated WGSL: enables, injected constants and variant functions, the dot product, the shared helpers, the kernel. */
export function int8AttentionSource(schedule: AttentionSchedule, kernel: Int8AttentionKernel): string {
  const { variant } = kernel;
  const pvElements = pvElementsOf(kernel);
  const pvWords = schedule.blockN / pvElements;
  const exponent = exponentOf(kernel);
  return [
    kernel.outputF16 || exponent.needsF16 ? 'enable f16;' : '',
    kernel.outputF16 ? 'alias out_t = f16;' : 'alias out_t = f32;',
    `fn to_out(x: f32) -> out_t { return out_t(x); }`,
    wgslConstants({
      ...tileConstants(schedule),
      CHANNELS_PER_THREAD: schedule.channelsPerThread,
      KEY_GROUPS_PER_THREAD: schedule.keyGroupsPerThread,
      PV_CHANNEL_TILE: schedule.pvChannelTile,
      HEAVY_TILES_FIRST: schedule.heavyTilesFirst,
      WORKGROUP_SIZE: schedule.workgroupSize,
      PV_ELEMS: pvElements,
      PV_WORDS: pvWords,
      PV_STRIDE: pvWords + 1,
      PV_FP16: variant.pv === 'fp16',
      P_SCALE_ROWMAX: variant.pScale === 'rowmax',
      P_CODE_MAX: variant.pCodeMax,
      P_CODES_U8: variant.pCodeMax === 255,
      SKIP_SPARSE_TILES: variant.skipSparseTiles,
      EXPONENT_MONOTONE: exponent.monotone,
    }),
    exponent.wgsl,
    kernel.packedDot4 ? DOT4_PACKED : DOT4_FALLBACK,
    ...wordLoopBounds(schedule, { qk_word_count: ['QK_WORDS', 'params.qk_words'], pv_word_count: ['PV_WORDS', 'params.pv_words'] }),
    common,
    source,
  ].join('\n');
}

/** Pipeline cache key of a schedule and kernel: everything {@link int8AttentionSource} reads. */
export function int8AttentionKey(schedule: AttentionSchedule, kernel: Int8AttentionKernel): string {
  const { variant } = kernel;
  return [
    'qattn/attn_fwd_int8',
    schedule.key,
    `pv-${variant.pv}`,
    `p-${variant.pScale}-${variant.pCodeMax}`,
    exponentOf(kernel).key,
    variant.skipSparseTiles ? 'skip-sparse' : 'dense',
    kernel.packedDot4 ? 'dot4' : 'intmath',
    kernel.outputF16 ? 'f16' : 'f32',
  ].join(':');
}

/**
 * Uniforms of the attention kernel. `vScaleBlocks.tilesPerBlock` = kernel key tiles per V scale block (V scales are
 * read once per tile, so a scale block must cover whole tiles); `blocks` = scale blocks along keys.
 */
export function int8AttentionUniforms(
  schedule: AttentionSchedule,
  kernel: Int8AttentionKernel,
  dims: AttentionDims,
  vScaleBlocks: { blocks: number; tilesPerBlock: number },
): UniformWord[] {
  const pvElements = pvElementsOf(kernel);
  return [
    { u32: dims.heads },
    { u32: dims.kvHeads },
    { u32: dims.seqQ },
    { u32: dims.seqKV },
    { u32: dims.heads / dims.kvHeads },
    { u32: dims.causal ? 1 : 0 },
    { i32: dims.seqKV - dims.seqQ },
    { u32: Math.ceil(dims.seqKV / pvElements) },
    { u32: vScaleBlocks.blocks },
    { u32: vScaleBlocks.tilesPerBlock },
    { f32: dims.smScaleLog2 },
    { u32: schedule.headDim / 4 },
    { u32: schedule.blockN / pvElements },
  ];
}

/** Encodes the attention forward on pre-quantized operands; `params` from {@link int8AttentionUniforms}. */
export function encodeInt8Attention(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  schedule: AttentionSchedule,
  kernel: Int8AttentionKernel,
  params: GPUBuffer,
  operands: Int8AttentionOperands,
  dims: AttentionDims,
  timestampWrites?: GPUComputePassTimestampWrites,
): void {
  const pipeline = cachedPipeline(context, int8AttentionKey(schedule, kernel), () => int8AttentionSource(schedule, kernel));
  const { qCodes, qScale, kCodes, kScale, vCodes, vScale, vMean, out } = operands;
  encodeDispatch(
    context,
    encoder,
    pipeline,
    [params, qCodes, qScale, kCodes, kScale, vCodes, vScale, vMean, out],
    [Math.ceil(dims.seqQ / schedule.blockM), dims.batch * dims.heads],
    timestampWrites,
  );
}
