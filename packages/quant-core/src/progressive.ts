import { QattnError } from './errors.js';
import { packInt, packedLength, unpackInt } from './pack.js';
import { roundHalfEven } from './quantize.js';

/** Widths an INT8 block can be progressively compressed to. */
export type ProgressiveBits = 4 | 2;

/**
 * One INT8 block `[tokens, channels]` compressed to `bits` per value (TurboAttention's progressive quantization):
 * asymmetric, one integer step and one integer offset per channel over the block's tokens.
 *
 * Everything is an integer, so decompression back to INT8 is integer-only (one multiply-add per value, never out of
 * INT8 range) and the attention kernel then runs its INT8 GEMMs on the result, with the block's original INT8 scale.
 */
export interface ProgressiveBlock {
  readonly bits: ProgressiveBits;
  readonly tokens: number;
  readonly channels: number;
  /** Unsigned codes in [0, 2^bits − 1], row-major `[tokens, channels]`, packed with `packInt(…, bits, 'unsigned')`. */
  readonly packed: Uint8Array;
  /** Per-channel integer step in INT8 units, `[channels]`, in [1, ⌈254 / (2^bits − 1)⌉] (int4 ≤ 17, int2 ≤ 85). */
  readonly scale: Uint8Array;
  /**
   * Per-channel integer offset, `[channels]`, in [−128, 127]: the channel's minimum, or lower where the grid
   * zero + L·step would pass 127 (see {@link compressProgressive}).
   */
  readonly zero: Int8Array;
}

/** Largest code of `bits`: L = 2^bits − 1 (int4 15, int2 3). */
export function progressiveLevels(bits: ProgressiveBits): number {
  return (1 << bits) - 1;
}

function checkBits(bits: unknown): ProgressiveBits {
  if (bits !== 4 && bits !== 2) {
    throw new QattnError('ERR_QATTN_OPTION', `progressive bits must be 4 or 2, got ${String(bits)}`, { option: 'bits', value: bits });
  }
  return bits;
}

function checkBlockShape(length: number, tokens: unknown, channels: unknown): void {
  for (const [name, value] of [['tokens', tokens], ['channels', channels]] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new QattnError('ERR_QATTN_SHAPE', `progressive: ${name} must be a positive integer, got ${String(value)} (block [tokens, channels])`, {
        dimension: name,
        value,
      });
    }
  }
  if (length !== (tokens as number) * (channels as number)) {
    throw new QattnError('ERR_QATTN_SHAPE', `progressive: ${length} values but block [tokens, channels] = [${tokens}, ${channels}] needs ${(tokens as number) * (channels as number)}`);
  }
}

/**
 * Compresses a symmetric INT8 block `int8 [tokens, channels]` (codes in [−127, 127]) to `bits` per value.
 *
 * Integer formulas, per channel c over the block's tokens t (L = 2^bits − 1):
 *
 *   lo, hi   = min_t int8[t, c], max_t int8[t, c]
 *   scale[c] = max(1, ⌈(hi − lo) / L⌉)                             (integer division rounded up)
 *   zero[c]  = min(lo, 127 − L·scale[c])                           ∈ [−128, 127]
 *   a        = int8[t, c] − zero[c]                                ∈ [0, L·scale[c]]
 *   code     = roundHalfEven(a / scale[c])                          ∈ [0, L]
 *
 * Rounding the step up (not to nearest) guarantees L·scale ≥ hi − lo, so [zero, zero + L·scale] covers the channel
 * and no code ever clips. The grid starts at the channel's minimum unless its top zero + L·scale would pass 127 (a
 * channel reaching near +127 with a step that overshoots: ±127 at INT4 has L·scale = 255); then it ends at exactly
 * 127 instead, which L·scale ≤ 255 keeps at zero ≥ −128. So decompression ({@link decompressProgressive}) is
 * int8 = code·scale + zero with no clamp — every decoded value lies in [−128, 127] — which lets a GPU kernel fold
 * the step into the other operand of an integer product (Σ q·(code·step + zero) = Σ (q·step)·code + Σ q·zero)
 * where a clamp would not fold. The error bound, in INT8 units, is
 *
 *   |int8 − decompressed| ≤ ⌊scale[c] / 2⌋     (int4: ≤ 8, int2: ≤ 42 for a full-range channel; 0 for constant ones)
 *
 * because |code·scale − a| ≤ scale/2 and both sides are integers. Multiply by the block's INT8 scale for
 * the error in real units. Throws `ERR_QATTN_DTYPE` (not an Int8Array, or a −128 code, which symmetric INT8 never
 * produces), `ERR_QATTN_SHAPE`, `ERR_QATTN_OPTION` (bits). The input is not modified.
 */
export function compressProgressive(int8: Int8Array, tokens: number, channels: number, bits: ProgressiveBits): ProgressiveBlock {
  if (!(int8 instanceof Int8Array)) {
    throw new QattnError('ERR_QATTN_DTYPE', 'compressProgressive: input must be an Int8Array of symmetric INT8 codes');
  }
  checkBits(bits);
  checkBlockShape(int8.length, tokens, channels);
  const levels = progressiveLevels(bits);
  const minimum = new Int16Array(channels).fill(127); // [channels]
  const maximum = new Int16Array(channels).fill(-127); // [channels]
  for (let t = 0; t < tokens; t++) {
    const row = t * channels;
    for (let c = 0; c < channels; c++) {
      const value = int8[row + c];
      if (value === -128) {
        throw new QattnError('ERR_QATTN_DTYPE', `compressProgressive: int8[${row + c}] is −128, outside symmetric INT8 [−127, 127]`, {
          index: row + c,
        });
      }
      if (value < minimum[c]) minimum[c] = value;
      if (value > maximum[c]) maximum[c] = value;
    }
  }
  const scale = new Uint8Array(channels); // [channels]
  const zero = new Int8Array(channels); // [channels]
  for (let c = 0; c < channels; c++) {
    scale[c] = Math.max(1, Math.ceil((maximum[c] - minimum[c]) / levels));
    zero[c] = Math.min(minimum[c], 127 - levels * scale[c]);
  }
  const codes = new Uint8Array(tokens * channels); // [tokens, channels]
  for (let t = 0; t < tokens; t++) {
    const row = t * channels;
    for (let c = 0; c < channels; c++) {
      const offset = int8[row + c] - zero[c];
      // Ties to even, not up: with an even step every value halfway between two levels is a tie, and rounding them all
      // up biases the channel by +scale/4 INT8 units on average. Attention sums such errors over thousands of keys, so
      // the bias, not the noise, set the error (4-bit KV cache on LLM-like data: 11% relative L2 with ties up, 4.5% to
      // even). a / scale is exact enough to see every tie: both are integers ≤ 254.
      codes[row + c] = roundHalfEven(offset / scale[c]);
    }
  }
  return { bits, tokens, channels, packed: packInt(codes, bits, 'unsigned'), scale, zero };
}

/**
 * Decompresses a {@link ProgressiveBlock} back to INT8 in the integer domain: int8[t, c] = code·scale[c] + zero[c],
 * in [−128, 127] for every block {@link compressProgressive} makes (a hand-made block that leaves that range throws
 * `ERR_QATTN_DTYPE` rather than wrap). Writes into `out` (length tokens·channels) when given.
 */
export function decompressProgressive(block: ProgressiveBlock, out?: Int8Array): Int8Array {
  const { bits, tokens, channels, scale, zero } = block;
  checkBits(bits);
  checkBlockShape(tokens * channels, tokens, channels);
  if (scale.length !== channels || zero.length !== channels || block.packed.length !== packedLength(tokens * channels, bits)) {
    throw new QattnError('ERR_QATTN_SHAPE', `decompressProgressive: scale, zero or packed codes do not match block [${tokens}, ${channels}] at ${bits} bits`);
  }
  if (out !== undefined && (!(out instanceof Int8Array) || out.length !== tokens * channels)) {
    throw new QattnError('ERR_QATTN_SHAPE', `decompressProgressive: out must be an Int8Array of ${tokens * channels} elements`);
  }
  const codes = unpackInt(block.packed, tokens * channels, bits, 'unsigned'); // [tokens, channels]
  const target = out ?? new Int8Array(tokens * channels);
  for (let t = 0; t < tokens; t++) {
    const row = t * channels;
    for (let c = 0; c < channels; c++) {
      const value = codes[row + c] * scale[c] + zero[c];
      if (value > 127 || value < -128) {
        throw new QattnError('ERR_QATTN_DTYPE', `decompressProgressive: code ${codes[row + c]} · step ${scale[c]} + zero ${zero[c]} = ${value} is outside INT8`, {
          index: row + c,
        });
      }
      target[row + c] = value;
    }
  }
  return target;
}

/** Per-channel bound ⌊scale/2⌋ on |int8 − decompressed| of a block, in INT8 units (see {@link compressProgressive}). */
export function progressiveErrorBound(block: ProgressiveBlock): Uint8Array {
  return block.scale.map((step) => step >> 1);
}

/**
 * Bytes a compressed block occupies: packed codes plus one byte of scale and one of zero per channel.
 * (The block's float INT8 scale is the caller's, counted by the caller.)
 */
export function progressiveBytes(tokens: number, channels: number, bits: ProgressiveBits): number {
  return packedLength(tokens * channels, bits) + 2 * channels;
}
