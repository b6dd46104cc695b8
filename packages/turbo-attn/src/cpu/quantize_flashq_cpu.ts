import { type ResolvedShape, type SymmetricQuantized, quantize, smoothChannels } from '@qattn/quant-core';

/**
 * FlashQ's INT8 operands: q, k and v quantized symmetrically to INT8 block-wise per head, on the FlashAttention tiles
 * (one scale per `blockM` queries of one head for q, per `blockN` keys of one kv head for k and v), so that every
 * Q·Kᵀ tile and every P·V tile has exactly one scale per operand.
 */
export interface FlashQOperands {
  qInt8: Int8Array; // [batch, heads, seqQ, headDim]
  qScale: Float32Array; // [batch, heads, ⌈seqQ / blockM⌉]
  kInt8: Int8Array; // [batch, kvHeads, seqKV, headDim]
  kScale: Float32Array; // [batch, kvHeads, ⌈seqKV / blockN⌉]
  vInt8: Int8Array; // [batch, kvHeads, seqKV, headDim]
  /** `[batch, kvHeads, ⌈seqKV / blockN⌉]`, or `[…, headDim]` when `vChannelScales` (one scale per block and channel). */
  vScale: Float32Array;
  vChannelScales: boolean;
  /** V's per-channel means `[batch, kvHeads, headDim]` when V was smoothed (the kernel adds them back), else null. */
  vMeans: Float32Array | null;
}

/**
 * Quantizes q, k, v to {@link FlashQOperands}. V may instead take one scale per block and channel
 * (`vGranularity: 'blockChannel'`): its scales then vary along the output dimension of P·V, so they still factor out
 * of the INT8 GEMM. With `smoothK`, k's per-channel mean over tokens (per batch, kv head)
 * is subtracted first: every logit of a query row then shifts by the same q·mean, which softmax ignores, while the
 * outlier channels of LLM keys stop dominating the block scale. Rounding: half to even (quant-core's `quantize`).
 * Inputs are not modified.
 */
export function quantizeFlashQ(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: ResolvedShape,
  tiles: { blockM: number; blockN: number; smoothK: boolean; smoothV: boolean; vGranularity: 'block' | 'blockChannel' },
): FlashQOperands {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
  const qView = { groups: batch * heads, tokens: seqQ, channels: headDim };
  const kvView = { groups: batch * kvHeads, tokens: seqKV, channels: headDim };
  const int8Blocks = (blockSize: number) => ({ bits: 8, scheme: 'symmetric', granularity: { kind: 'block', blockSize } }) as const;
  const kSource = tiles.smoothK ? smoothChannels(k, kvView).smoothed : k;
  // A symmetric spec always yields a SymmetricQuantized (Int8Array codes).
  const qQuant = quantize(q, qView, int8Blocks(tiles.blockM)) as SymmetricQuantized;
  const kQuant = quantize(kSource, kvView, int8Blocks(tiles.blockN)) as SymmetricQuantized;
  const vChannelScales = tiles.vGranularity === 'blockChannel';
  const vSpec = vChannelScales
    ? ({ bits: 8, scheme: 'symmetric', granularity: { kind: 'blockChannel', blockSize: tiles.blockN } } as const)
    : int8Blocks(tiles.blockN);
  const vSmoothed = tiles.smoothV ? smoothChannels(v, kvView) : null;
  const vQuant = quantize(vSmoothed ? vSmoothed.smoothed : v, kvView, vSpec) as SymmetricQuantized;
  return {
    qInt8: qQuant.values,
    qScale: qQuant.scales,
    kInt8: kQuant.values,
    kScale: kQuant.scales,
    vInt8: vQuant.values,
    vScale: vQuant.scales,
    vChannelScales,
    vMeans: vSmoothed ? vSmoothed.means : null,
  };
}
