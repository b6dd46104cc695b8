import { type ProgressiveBits, allocateHeadBits, compressProgressive, decompressProgressive, headPriority } from '@qattn/quant-core';
import type { PagePoolStorage } from './layout.js';
import { compressInt2Clipped } from './progressive-int2.js';

/** Rows × columns of a stored page: `[pageSize, headDim]` token-major (K), `[headDim, pageSize]` channel-major (V). */
export function pageMatrixShape(pageMajor: 'token' | 'channel', pageSize: number, headDim: number): { rows: number; cols: number } {
  return pageMajor === 'token' ? { rows: pageSize, cols: headDim } : { rows: headDim, cols: pageSize };
}

function poolBytes(pool: PagePoolStorage): Uint8Array {
  return new Uint8Array(pool.codes.buffer, pool.codes.byteOffset, pool.codes.byteLength);
}

/** Writes a page's INT8 matrix `[rows, cols]` (stored order) and its per-token scales `[pageSize]` into an INT8 slot. */
export function writeInt8Page(pool: PagePoolStorage, slot: number, matrix: Int8Array, tokenScales: Float32Array): void {
  const bytes = poolBytes(pool);
  const pageBytes = pool.wordsPerPage * 4;
  bytes.set(new Uint8Array(matrix.buffer, matrix.byteOffset, pageBytes), slot * pageBytes);
  pool.scales.set(tokenScales, slot * pool.scalesPerPage);
}

/**
 * Compresses a page's INT8 matrix `[rows, cols]` (stored order, one block scale) to the pool's width with progressive
 * quantization — one integer step/zero per column — and writes it into `slot`: INT4 with quant-core's min/max grid
 * (`compressProgressive`), INT2 with the clipped grid of {@link compressInt2Clipped} (a third less error at 2 bits).
 */
export function writeProgressivePage(pool: PagePoolStorage, slot: number, matrix: Int8Array, rows: number, cols: number, blockScale: number): void {
  const block = pool.bits === 2 ? compressInt2Clipped(matrix, rows, cols) : compressProgressive(matrix, rows, cols, pool.bits as ProgressiveBits);
  poolBytes(pool).set(block.packed, slot * pool.wordsPerPage * 4);
  pool.step.set(block.scale, slot * pool.metaPerPage);
  pool.zero.set(block.zero, slot * pool.metaPerPage);
  pool.scales[slot] = blockScale;
}

/**
 * The reference decompression of one page to INT8, `[rows, cols]` in stored order, into `out`: INT8 pages are copied;
 * INT4/INT2 pages are decompressed in the integer domain (code·step + zero, always within INT8). The real value is then
 * `out · scales[slot]` (INT4/INT2) or `out · scales[slot, t]` (INT8, per token). Decode kernels must agree with it.
 */
export function decodePageInt8(pool: PagePoolStorage, slot: number, rows: number, cols: number, out: Int8Array): Int8Array {
  const count = rows * cols;
  const byteStart = slot * pool.wordsPerPage * 4;
  const bytes = poolBytes(pool);
  if (pool.bits === 8) {
    out.set(new Int8Array(bytes.buffer, bytes.byteOffset + byteStart, count));
    return out;
  }
  const metaStart = slot * pool.metaPerPage;
  return decompressProgressive(
    {
      bits: pool.bits,
      tokens: rows,
      channels: cols,
      packed: bytes.subarray(byteStart, byteStart + pool.wordsPerPage * 4),
      scale: pool.step.subarray(metaStart, metaStart + cols),
      zero: pool.zero.subarray(metaStart, metaStart + cols),
    },
    out.subarray(0, count),
  );
}

/**
 * Head-wise mixed precision of one page (TurboAttention): each kv head's priority is gap × std of its values — computed
 * on its INT8 codes times s_b², which is the priority of the real values since gap and std both scale with s_b — and
 * the ⌊fraction · kvHeads⌋ lowest get 2 bits, the rest 4 (quant-core's `allocateHeadBits`).
 */
export function choosePageBits(blockCodes: readonly Int8Array[], blockScales: Float64Array, fraction: number): Uint8Array {
  if (fraction === 0) return new Uint8Array(blockCodes.length).fill(4);
  const priorities = Float64Array.from(blockCodes, (codes, g) => headPriority(codes) * blockScales[g] ** 2);
  return allocateHeadBits(priorities, fraction);
}
