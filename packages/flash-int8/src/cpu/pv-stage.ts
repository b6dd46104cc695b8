import type { TensorView } from '@qattn/quant-core';
import type { ResolvedFlashInt8Options } from '../options.js';

/**
 * The P·V half of the kernel, as a variant record (FlashInfer style): the tile loop computes probabilities and calls
 * these hooks; how P and V are represented (INT8 with scales, or fp16) lives entirely in the stage.
 */
export interface PvStage {
  /**
   * Adds one query row's P·V over one key tile to `o[oOffset, oOffset + headDim)`, which the caller has already
   * rescaled. The softmax denominator l is not the stage's business: the caller sums the fp32 probabilities, as
   * FlashAttention-2 and the paper do. (Summing the rounded weights instead was measured worse: 3.1% vs 1.7% relative
   * L2 for INT8 P with 64-key tiles, because rounding the many tiny probabilities of a tile to 0 biases the sum.)
   *
   * @param p        fp32 probabilities exp2(s − m), 0 for masked keys: `p[pOffset, pOffset + keyCount)`
   * @param pMax     the largest of them (exp2(tile row max − m); 0 when the row sees no key of this tile)
   * @param kvGroup  batch · kvHeads + kvHead of this row's keys
   * @param keyStart first key of the tile; `keyTile` its tile index (keyStart = keyTile · blockN)
   */
  accumulateRow(
    p: Float32Array,
    pOffset: number,
    pMax: number,
    keyCount: number,
    kvGroup: number,
    keyStart: number,
    keyTile: number,
    o: Float32Array,
    oOffset: number,
  ): void;
  /** Per-(batch, kvHead) channel means subtracted from V, `[groups, headDim]`, to add back to the output; or null. */
  readonly vMeans: Float32Array | null;
}

/** Builds the stage for one call from V (`[groups = batch·kvHeads, tokens = seqKV, channels = headDim]`). */
export type PvStageFactory = (v: Float32Array, view: TensorView, options: ResolvedFlashInt8Options) => PvStage;
