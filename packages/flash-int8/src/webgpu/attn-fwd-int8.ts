import type { GpuContext } from '@qattn/webgpu-runtime';
import source from './attn_fwd_int8.wgsl';
import { cachedPipeline, encodeDispatch, uniformBuffer, wgslConstants, wordLoopBounds } from './dispatch.js';
import type { AttentionSchedule } from './schedule.js';

/** The attention variant: data that selects code paths in the kernel (FlashInfer-style variant record). */
export interface Int8AttentionVariant {
  pv: 'int8' | 'fp16';
  pScale: 'global' | 'rowmax';
  /** Largest P code: 127 (signed bytes) or 255 (unsigned bytes, a u8·s8 product against V). */
  pCodeMax: 127 | 255;
  /** Use `dot4I8Packed` (language feature `packed_4x8_integer_dot_product`) or plain integer math. */
  packedDot4: boolean;
  outputF16: boolean;
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

/** Shape values the kernel reads from its uniform buffer. */
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

/** The generated WGSL: enables, injected constants, the dot product, then attn_fwd_int8.wgsl. */
export function int8AttentionSource(schedule: AttentionSchedule, variant: Int8AttentionVariant): string {
  const pvElements = variant.pv === 'int8' ? 4 : 2;
  const pvWords = schedule.blockN / pvElements;
  const header = [
    variant.outputF16 ? 'enable f16;' : '',
    variant.outputF16 ? 'alias out_t = f16;' : 'alias out_t = f32;',
    `fn to_out(x: f32) -> out_t { return out_t(x); }`,
    wgslConstants({
      HEAD_DIM: schedule.headDim,
      QK_WORDS: schedule.headDim / 4,
      QK_STRIDE: schedule.headDim / 4 + 1,
      BLOCK_M: schedule.blockM,
      BLOCK_N: schedule.blockN,
      ROWS_PER_THREAD: schedule.rowsPerThread,
      THREADS_PER_ROW: schedule.threadsPerRow,
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
    }),
    variant.packedDot4 ? DOT4_PACKED : DOT4_FALLBACK,
    ...wordLoopBounds(schedule, { qk_word_count: ['QK_WORDS', 'params.qk_words'], pv_word_count: ['PV_WORDS', 'params.pv_words'] }),
  ];
  return [...header, source].join('\n');
}

/** Pipeline cache key of a schedule and variant. */
export function int8AttentionKey(schedule: AttentionSchedule, variant: Int8AttentionVariant): string {
  return `flash-int8/attn_fwd_int8:${schedule.key}:pv-${variant.pv}:p-${variant.pScale}-${variant.pCodeMax}:${variant.packedDot4 ? 'dot4' : 'intmath'}:${variant.outputF16 ? 'f16' : 'f32'}`;
}

/**
 * Encodes the attention forward on pre-quantized operands. `vBlockTiles` = kernel key tiles per V scale block
 * (V scales are read once per tile, so a scale block must cover whole tiles); `vBlocks` = scale blocks along keys.
 */
export function encodeInt8Attention(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  schedule: AttentionSchedule,
  variant: Int8AttentionVariant,
  operands: Int8AttentionOperands,
  dims: AttentionDims,
  vScaleBlocks: { blocks: number; tilesPerBlock: number },
  timestampWrites?: GPUComputePassTimestampWrites,
): GPUBuffer[] {
  const pipeline = cachedPipeline(context, int8AttentionKey(schedule, variant), () => int8AttentionSource(schedule, variant));
  const pvElements = variant.pv === 'int8' ? 4 : 2;
  const params = uniformBuffer(context, [
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
  ]);
  const { qCodes, qScale, kCodes, kScale, vCodes, vScale, vMean, out } = operands;
  encodeDispatch(
    context,
    encoder,
    pipeline,
    [params, qCodes, qScale, kCodes, kScale, vCodes, vScale, vMean, out],
    [Math.ceil(dims.seqQ / schedule.blockM), dims.batch * dims.heads],
    timestampWrites,
  );
  return [params];
}
