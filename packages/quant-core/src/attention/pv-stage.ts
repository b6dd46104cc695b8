/**
 * The P·V half of the tile loop: the loop computes fp32 probabilities and calls this hook; how P and V are
 * represented (INT8 with scales, or fp16) lives entirely in the stage. One stage is built per call.
 */
export interface PvStage {
  /**
   * Per-channel factors the epilogue multiplies O / l by, `[batch·kvHeads, headDim]`, for a stage that accumulates in
   * V's code units and applies V's scale once per row (`pv: 'fp8'`); absent when each tile adds dequantized values.
   */
  readonly outputScales?: Float32Array;
  /**
   * Adds one query row's P·V over one key tile to `o[oOffset, oOffset + headDim)`, which the caller has already
   * rescaled. The softmax denominator l is not the stage's business: the caller sums the fp32 probabilities, as
   * FlashAttention-2 and both papers do. (Summing the rounded weights instead was measured 2–3× worse on LLM-like data:
   * rounding the many small probabilities of a tile that also holds the attention sink to 0 biases the sum.)
   *
   * @param p        fp32 probabilities exp2(s − m), 0 for masked keys: `p[pOffset, pOffset + keyCount)`
   * @param pMax     the largest of them (0 when the row sees no key of this tile)
   * @param kvGroup  batch · kvHeads + kvHead of this row's keys
   * @param keyTile  index of the key tile; its first key is keyTile · blockN
   */
  accumulateRow(
    p: Float32Array,
    pOffset: number,
    pMax: number,
    keyCount: number,
    kvGroup: number,
    keyTile: number,
    o: Float32Array,
    oOffset: number,
  ): void;
}

/** What a stage needs to know of the call: V's layout `[groups, tokens = seqKV, channels = headDim]` and the key tile. */
export interface PvStageLayout {
  tokens: number;
  channels: number;
  blockN: number;
}
