import { type AttentionOptions, type AttentionShape, lastVisibleKey, validateAttentionInputs } from '@qattn/quant-core';

/**
 * Exact attention in float64: softmax(scale · q·kᵀ) · v with float64 accumulation everywhere, the yardstick every
 * qattn kernel is measured against.
 *
 * q `[batch, heads, seqQ, headDim]`, k and v `[batch, kvHeads, seqKV, headDim]`, output like q. Query head h reads
 * kv head ⌊h / (heads / kvHeads)⌋. Causal masking is bottom-right aligned (query i sees keys j ≤ i + seqKV − seqQ);
 * a query that sees no key at all (possible only when seqQ > seqKV) outputs zeros, as FlashAttention does.
 *
 * @example
 * const out = attention(q, k, v, { batch: 1, heads: 8, seqQ: 128, seqKV: 128, headDim: 64 }, { causal: true });
 */
export function attention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: AttentionShape,
  options: AttentionOptions = {},
): Float64Array {
  const { shape: s, scale, causal } = validateAttentionInputs(q, k, v, shape, options);
  const { batch, heads, kvHeads, seqQ, seqKV, headDim, groupSize } = s;
  const out = new Float64Array(s.qElements);
  const logits = new Float64Array(seqKV); // [seqKV] of one query row
  const acc = new Float64Array(headDim); // [headDim]
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvHead = Math.floor(h / groupSize);
      const qBase = (b * heads + h) * seqQ * headDim;
      const kvBase = (b * kvHeads + kvHead) * seqKV * headDim;
      for (let i = 0; i < seqQ; i++) {
        const last = lastVisibleKey(i, seqQ, seqKV, causal);
        if (last < 0) continue; // no visible key: the row stays zero
        const qRow = qBase + i * headDim;
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          const kRow = kvBase + j * headDim;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[qRow + d] * k[kRow + d];
          const logit = dot * scale;
          logits[j] = logit;
          if (logit > max) max = logit;
        }
        acc.fill(0);
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          const p = Math.exp(logits[j] - max);
          sum += p;
          const vRow = kvBase + j * headDim;
          for (let d = 0; d < headDim; d++) acc[d] += p * v[vRow + d];
        }
        const inv = 1 / sum;
        for (let d = 0; d < headDim; d++) out[qRow + d] = acc[d] * inv;
      }
    }
  }
  return out;
}
