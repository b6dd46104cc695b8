import { QattnError } from './errors.js';
import { packInt, packedLength, unpackInt } from './pack.js';
import { roundHalfEven } from './quantize.js';

/** Widths an INT8 block can be progressively compressed to. */
export type ProgressiveBits = 4 | 2;

/**
 * One INT8 block `[tokens, channels]` compressed to `bits` per value (TurboAttention's progressive quantization):
 * asymmetric, one integer step and one integer offset per channel over the block's tokens.
 *
 * Everything is an integer, so decompression back to INT8 is integer-only (one multiply-add and a clamp per value)
 * and the attention kernel then runs its INT8 GEMMs on the result, with the block's original INT8 scale.
 */
export interface ProgressiveBlock {
  readonly bits: ProgressiveBits;
  readonly tokens: number;
  readonly channels: number;
  /** Unsigned codes in [0, 2^bits − 1], row-major `[tokens, channels]`, packed with `packInt(…, bits, 'unsigned')`. */
  readonly packed: Uint8Array;
  /** Per-channel integer step in INT8 units, `[channels]`, in [1, ⌈254 / (2^bits − 1)⌉] (int4 ≤ 17, int2 ≤ 85). */
  readonly scale: Uint8Array;
  /** Per-channel integer offset (the channel's minimum over the block), `[channels]`, in [−127, 127]. */
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
 *   zero[c]  = min_t int8[t, c]
 *   range[c] = max_t int8[t, c] − zero[c]                          ∈ [0, 254]
 *   scale[c] = max(1, ⌈range[c] / L⌉)                              (integer division rounded up)
 *   a        = int8[t, c] − zero[c]                                ∈ [0, range[c]]
 *   code     = roundHalfEven(a / scale[c])                          ∈ [0, L]
 *
 * Rounding the step up (not to nearest) guarantees L·scale ≥ range, so no code ever clips. Decompression
 * ({@link decompressProgressive}) is int8 = clamp(code·scale + zero, −127, 127), and the error bound, in INT8 units, is
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
    zero[c] = minimum[c];
    scale[c] = Math.max(1, Math.ceil((maximum[c] - minimum[c]) / levels));
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
 * Decompresses a {@link ProgressiveBlock} back to INT8 in the integer domain: int8[t, c] = clamp(code·scale[c] +
 * zero[c], −127, 127). Only the upper clamp can bite (code·scale may exceed the channel max by < scale/2, never 127 by
 * more than 42). Writes into `out` (length tokens·channels) when given.
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
      target[row + c] = value > 127 ? 127 : value < -127 ? -127 : value;
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
