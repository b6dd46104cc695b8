import { type QuantizedAttentionOperands, type ResolvedShape, quantizeRowsInt8, quantizeVInt8Tiles, smoothChannels } from '@qattn/quant-core';

/**
 * FlashQ's INT8 operands (docs/ALGORITHMS.md §2): q, k and v quantized symmetrically to INT8 block-wise per head, on the
 * FlashAttention tiles — one scale per `blockM` queries of one head for q, per `blockN` keys of one kv head for k and
 * v — so every Q·Kᵀ tile and every P·V tile has one scale per operand. V may instead take one scale per block and
 * channel (`vGranularity: 'blockChannel'`): its scales then vary along the output dimension of P·V, so they still
 * factor out of the INT8 GEMM. With `smoothK`, k's per-channel mean over tokens (per batch, kv head) is subtracted
 * first: every logit of a query row then shifts by the same q·mean, which softmax ignores, while the outlier channels
 * of LLM keys stop dominating the block scale. With `smoothV`, V's mean is subtracted and handed to the loop to add back.
 *
 * Returned in the normalized form of quant-core's tile loop: block scales repeated over their rows (q, k) and over the
 * channels (v with `'block'`). Rounding: half to even. Inputs are not modified.
 */
export function quantizeFlashQ(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: ResolvedShape,
  tiles: { blockM: number; blockN: number; smoothK: boolean; smoothV: boolean; vGranularity: 'block' | 'blockChannel' },
): QuantizedAttentionOperands {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
  const { blockM, blockN } = tiles;
  const qView = { groups: batch * heads, tokens: seqQ, channels: headDim };
  const kvView = { groups: batch * kvHeads, tokens: seqKV, channels: headDim };
  const vSmoothed = tiles.smoothV ? smoothChannels(v, kvView) : null;
  return {
    q: quantizeRowsInt8(q, qView, { kind: 'block', blockSize: blockM }),
    k: quantizeRowsInt8(tiles.smoothK ? smoothChannels(k, kvView).smoothed : k, kvView, { kind: 'block', blockSize: blockN }),
    v: quantizeVInt8Tiles(vSmoothed ? vSmoothed.smoothed : v, kvView, { kind: tiles.vGranularity, blockSize: blockN }, blockN),
    vMeans: vSmoothed ? vSmoothed.means : null,
  };
}
