/**
 * Bytes the CUDA quantization phase of one attention call moves through device memory (`quantMs`: the addon's
 * kStageQuantize, packages/cuda-runtime/native/include/qattn/quantize_qkv.cuh), so that a cell's quantization time
 * becomes a bandwidth comparable with a device copy of as many bytes (the sweep's `copy-quant` peer).
 *
 * This is the minimum traffic: every fp32 input element read once, every workspace byte written once. What the
 * kernels move beyond it is not counted, so `quant GB/s` is the useful bandwidth, not what the DRAM served:
 * - K (and V) smoothing (smoothK, smoothV: on in both packages' defaults except flash-int8's smoothV) reads K (V)
 *   once more for its channel means, plus the small partial sums and means;
 * - Q/K scales per block of rows (turbo-attn's FlashQ, flash-int8's qkGranularity 'block') read each block twice,
 *   the second time mostly from L2.
 * Layouts as attention_args.h has them; "pad" rows are written too (codes 0, scale 1), so they count.
 */
import { BenchError, KERNEL_ALGORITHMS } from './algorithms.js';
import { gbPerSecond } from './decode-cache/rows.js';
import type { CellShape } from './metrics.js';
import type { AlgorithmId } from './presets.js';

/** Queries of the quantized Q rounded up to this (tile_config.h kSeqQPad: a multiple of every block_m). */
export const SEQ_Q_PAD = 128;
/** Keys of the quantized K and V_t rounded up to this (tile_config.h kSeqKVPad: a multiple of every block_n). */
export const SEQ_KV_PAD = 64;
/** Key blocks of the INT8 V scales the CUDA quantizer writes (kMinKeyBlock and kVQuantKeys of tile_config.h). */
export const V_SCALE_KEY_BLOCKS = [32, 64] as const;

/** What changes the bytes written besides the shape. */
export interface QuantTrafficOptions {
  /** P·V precision: 'int8' writes V_t as INT8 codes plus V scales; 'fp16' writes V_t in fp16 and no V scales. */
  pv: 'int8' | 'fp16';
  /** Keys per V scale block (the kernel's key_block, the algorithm's blockN): 32 or 64. Unused for pv 'fp16'. */
  keyBlock: number;
}

/** The quantization phase's traffic in bytes, each term on its own. */
export interface QuantTraffic {
  seqQPad: number;
  seqKVPad: number;
  /** fp32 q [B, H, Sq, D]: 4 bytes per element, read once. */
  qRead: number;
  /** fp32 k [B, Hkv, Skv, D]: 4 bytes per element, read once. */
  kRead: number;
  /** fp32 v [B, Hkv, Skv, D]: 4 bytes per element, read once. */
  vRead: number;
  /** q_int8 [B, H, SqPad, D]: 1 byte per code, pad rows included. */
  qCodes: number;
  /** q_scale [B, H, SqPad] fp32: one scale per row (a block's scale repeated over its rows). */
  qScales: number;
  /** k_int8 [B, Hkv, SkvPad, D]: 1 byte per code, pad rows included. */
  kCodes: number;
  /** k_scale [B, Hkv, SkvPad, 2] fp32: a dequantization pair (scale, −magic·scale) per key. */
  kScales: number;
  /** v_t [B, Hkv, D, SkvPad]: 1 byte per INT8 code, 2 per fp16 value (pv 'fp16'). */
  vCodes: number;
  /** v_scale [B, Hkv, SkvPad / keyBlock, D, 2] fp32: a pair per key block and channel (repeated over the channels
   * for FlashQ's per-block V scale); 0 for pv 'fp16'. */
  vScales: number;
  /** qRead + kRead + vRead. */
  readBytes: number;
  /** Every code and scale written. */
  writeBytes: number;
  /** readBytes + writeBytes: what `quant GB/s` divides by the time. */
  totalBytes: number;
}

const roundUp = (value: number, multiple: number) => Math.ceil(value / multiple) * multiple;

/**
 * The minimum bytes the CUDA quantization of one call reads and writes (see the file comment for what it leaves
 * out). Throws `ERR_BENCH_SHAPE` for a dimension that is not a positive integer (the legend: B batch, H heads, Hkv
 * kvHeads, Sq seqQ, Skv seqKV, D headDim) and `ERR_BENCH_KEY_BLOCK` for an INT8 key block the quantizer has no
 * layout for. The causal mask changes nothing here: every row is quantized.
 */
export function quantTraffic(shape: Omit<CellShape, 'causal'> & { causal?: boolean }, options: QuantTrafficOptions): QuantTraffic {
  for (const [name, value] of Object.entries({ batch: shape.batch, heads: shape.heads, kvHeads: shape.kvHeads, seqQ: shape.seqQ, seqKV: shape.seqKV, headDim: shape.headDim })) {
    if (!Number.isInteger(value) || value < 1) throw new BenchError('ERR_BENCH_SHAPE', `quantTraffic: ${name} must be a positive integer, got ${String(value)}`);
  }
  if (options.pv === 'int8' && !(V_SCALE_KEY_BLOCKS as readonly number[]).includes(options.keyBlock)) {
    throw new BenchError('ERR_BENCH_KEY_BLOCK', `quantTraffic: keyBlock must be ${V_SCALE_KEY_BLOCKS.join(' or ')} for pv 'int8' (the CUDA V scale layouts), got ${String(options.keyBlock)}`);
  }
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
  const seqQPad = roundUp(seqQ, SEQ_Q_PAD);
  const seqKVPad = roundUp(seqKV, SEQ_KV_PAD);
  const qGroups = batch * heads;
  const kvGroups = batch * kvHeads;
  const qRead = 4 * qGroups * seqQ * headDim;
  const kRead = 4 * kvGroups * seqKV * headDim;
  const vRead = kRead;
  const qCodes = qGroups * seqQPad * headDim;
  const qScales = 4 * qGroups * seqQPad;
  const kCodes = kvGroups * seqKVPad * headDim;
  const kScales = 8 * kvGroups * seqKVPad;
  const vCodes = (options.pv === 'fp16' ? 2 : 1) * kvGroups * headDim * seqKVPad;
  const vScales = options.pv === 'fp16' ? 0 : 8 * kvGroups * (seqKVPad / options.keyBlock) * headDim;
  const readBytes = qRead + kRead + vRead;
  const writeBytes = qCodes + qScales + kCodes + kScales + vCodes + vScales;
  return { seqQPad, seqKVPad, qRead, kRead, vRead, qCodes, qScales, kCodes, kScales, vCodes, vScales, readBytes, writeBytes, totalBytes: readBytes + writeBytes };
}

/** Largest head dim whose flash-int8 default blockN is 64 (`BLOCK_N_64_MAX_HEAD_DIM` of @qattn/flash-int8). */
const FLASH_INT8_BLOCK_N_64_MAX_HEAD_DIM = 128;

/**
 * The options that decide an algorithm's quantization bytes: its fixed options, then `extraOptions` (`--options`),
 * then the package defaults (flash-int8: blockN 64 up to head dim 128, 32 above, as its `defaultBlockN`; fp16 P·V
 * runs the kernel compiled for 64; turbo-attn: INT8 P·V, blockN 64). Undefined for the float baseline and for
 * options the CUDA kernels refuse (pv 'fp8', a key block without a V scale layout): such cells have no quantMs.
 */
export function quantTrafficOptionsOf(algorithm: AlgorithmId, headDim: number, extraOptions: Record<string, unknown> = {}): QuantTrafficOptions | undefined {
  if (algorithm === 'float32') return undefined;
  const { pkg, options } = KERNEL_ALGORITHMS[algorithm];
  const merged = { ...options, ...extraOptions };
  const pv = pkg === 'turbo' ? 'int8' : merged.pv;
  if (pv === 'fp16') return { pv, keyBlock: 64 };
  if (pv !== 'int8') return undefined;
  const fallback = pkg === 'flashInt8' && headDim > FLASH_INT8_BLOCK_N_64_MAX_HEAD_DIM ? 32 : 64;
  const keyBlock = merged.blockN === undefined ? fallback : merged.blockN;
  return typeof keyBlock === 'number' && (V_SCALE_KEY_BLOCKS as readonly number[]).includes(keyBlock) ? { pv, keyBlock } : undefined;
}

/** What the quant GB/s of a cell needs of it (a `CellResult`). */
export interface QuantTimedCell {
  algorithm: AlgorithmId;
  backend: string;
  shape: CellShape;
  status: string;
  timing?: { quantMs?: number };
}

/**
 * A CUDA cell's quantization bytes and GB/s (bytes / quantMs), or undefined: the bytes follow the CUDA workspace's
 * layouts, so only `cuda` cells with a quantMs get one (the WebGPU quantizer writes other layouts).
 */
export function quantBandwidthOf(cell: QuantTimedCell, extraOptions: Record<string, unknown> = {}): { quantBytes: number; quantGbps: number } | undefined {
  const quantMs = cell.timing?.quantMs;
  if (cell.status !== 'ok' || cell.backend !== 'cuda' || quantMs === undefined || !(quantMs > 0)) return undefined;
  const options = quantTrafficOptionsOf(cell.algorithm, cell.shape.headDim, extraOptions);
  if (!options) return undefined;
  const quantBytes = quantTraffic(cell.shape, options).totalBytes;
  return { quantBytes, quantGbps: gbPerSecond(quantBytes, quantMs) };
}

/**
 * The traffic the `copy-quant` peer copies per shape: the package defaults' (INT8 P·V, 64-key V scale blocks). The
 * comparison is GB/s against GB/s, so a cell whose own bytes differ (fp16 V_t, 32-key blocks: a few percent) is still
 * compared with a copy of about its size.
 */
export const COPY_PEER_TRAFFIC: QuantTrafficOptions = { pv: 'int8', keyBlock: 64 };
