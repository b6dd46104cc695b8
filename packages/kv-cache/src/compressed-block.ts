import {
  type ProgressiveBits,
  type ProgressiveBlock,
  allocateHeadBits,
  compressProgressive,
  decompressProgressive,
  headPriority,
  progressiveBytes,
} from '@qattn/quant-core';
import type { TokenBuffer } from './token-buffer.js';

/**
 * One full block of one tensor (K or V) for every (batch, kvHead) group, progressively compressed: a block-wise
 * symmetric INT8 scale per group, then per-channel asymmetric INT4 or INT2 codes with integer step and offset
 * (`@qattn/quant-core`'s `compressProgressive`), the width chosen per head by TurboAttention's head priority.
 */
export interface CompressedBlock {
  /** Block INT8 scale s_b per group, `[batch, kvHeads]` (float32, stored as 4 bytes). */
  readonly int8Scales: Float32Array;
  /** Bits per group, `[batch, kvHeads]`: 2 or 4. */
  readonly bits: Uint8Array;
  /** Compressed codes per group, `[batch · kvHeads]`, each `[blockSize, headDim]`. */
  readonly groups: readonly ProgressiveBlock[];
}

/** Bytes of one group's compressed block: packed codes, per-channel integer step and offset, the float32 s_b. */
export function compressedGroupBytes(blockSize: number, headDim: number, bits: ProgressiveBits): number {
  return progressiveBytes(blockSize, headDim, bits) + 4;
}

/**
 * Compresses a full {@link TokenBuffer}: each group is re-quantized to one INT8 scale for the block, each batch
 * element's kv heads are ranked by priority (gap × std of the head's values in this block; computed on the INT8 codes
 * and multiplied by s_b², which is the priority of the real values since gap and std both scale with s_b), the
 * ⌊lowBitFraction · kvHeads⌋ lowest get 2 bits and the rest 4, and each group is compressed at its width.
 */
export function compressBuffer(buffer: TokenBuffer, batch: number, kvHeads: number, lowBitFraction: number): CompressedBlock {
  const { blockSize, headDim } = buffer;
  const groups = batch * kvHeads;
  const perGroup = blockSize * headDim;
  const int8 = new Int8Array(groups * perGroup); // [groups, blockSize, headDim]
  const int8Scales = new Float32Array(groups); // [groups]
  for (let g = 0; g < groups; g++) int8Scales[g] = buffer.toBlockInt8(g, int8.subarray(g * perGroup, (g + 1) * perGroup));

  const bits = new Uint8Array(groups); // [batch, kvHeads]
  const priorities = new Float64Array(kvHeads); // [kvHeads] of one batch element
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < kvHeads; h++) {
      const g = b * kvHeads + h;
      priorities[h] = headPriority(int8, g * perGroup, perGroup) * int8Scales[g] ** 2;
    }
    bits.set(allocateHeadBits(priorities, lowBitFraction), b * kvHeads);
  }

  const compressed = Array.from({ length: groups }, (_, g) =>
    compressProgressive(int8.subarray(g * perGroup, (g + 1) * perGroup), blockSize, headDim, bits[g] as ProgressiveBits),
  );
  return { int8Scales, bits, groups: compressed };
}

/**
 * Writes group `g` of a compressed block as INT8 codes (`[blockSize, headDim]`, integer-domain decompression) into
 * `codes` at `offset`, and its scale for each of the block's tokens into `scales` at `scaleOffset`.
 */
export function decompressGroupInt8(
  block: CompressedBlock,
  g: number,
  codes: Int8Array,
  offset: number,
  scales: Float32Array,
  scaleOffset: number,
): void {
  const group = block.groups[g];
  const size = group.tokens * group.channels;
  decompressProgressive(group, codes.subarray(offset, offset + size));
  scales.fill(block.int8Scales[g], scaleOffset, scaleOffset + group.tokens);
}
