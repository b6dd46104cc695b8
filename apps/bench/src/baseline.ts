import type { ApiShape } from './packages.js';

/**
 * The float baseline: plain single-threaded attention in float32 storage, "what you would write on the CPU without
 * quantization". Scores and the output live in Float32Arrays; JavaScript does the arithmetic in float64, so this is
 * an fp32-storage / fp64-arithmetic kernel, at least as accurate as a true fp32 one.
 *
 * Layout as everywhere in qattn: q/out `[batch, heads, seqQ, headDim]`, k/v `[batch, kvHeads, seqKV, headDim]`;
 * query head h reads kv head ⌊h / (heads / kvHeads)⌋; causal is bottom-right aligned; rows that see no key are 0.
 */
export function float32Attention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: ApiShape,
  options: { causal?: boolean; scale?: number } = {},
): Float32Array {
  const { batch, heads, seqQ, seqKV, headDim } = shape;
  const kvHeads = shape.kvHeads ?? heads;
  const groupSize = heads / kvHeads;
  const causal = options.causal ?? false;
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  const out = new Float32Array(batch * heads * seqQ * headDim);
  const scores = new Float32Array(seqKV); // [seqKV] of one query row
  const acc = new Float64Array(headDim); // [headDim] output row accumulator
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const qBase = (b * heads + h) * seqQ * headDim;
      const kvBase = (b * kvHeads + Math.floor(h / groupSize)) * seqKV * headDim;
      for (let i = 0; i < seqQ; i++) {
        const last = causal ? Math.min(seqKV - 1, i + seqKV - seqQ) : seqKV - 1;
        if (last < 0) continue;
        const qRow = qBase + i * headDim;
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          const kRow = kvBase + j * headDim;
          // Four partial sums: breaks the add dependency chain, as any CPU BLAS dot product does.
          let dot0 = 0;
          let dot1 = 0;
          let dot2 = 0;
          let dot3 = 0;
          let d = 0;
          for (; d + 3 < headDim; d += 4) {
            dot0 += q[qRow + d] * k[kRow + d];
            dot1 += q[qRow + d + 1] * k[kRow + d + 1];
            dot2 += q[qRow + d + 2] * k[kRow + d + 2];
            dot3 += q[qRow + d + 3] * k[kRow + d + 3];
          }
          for (; d < headDim; d++) dot0 += q[qRow + d] * k[kRow + d];
          const logit = (dot0 + dot1 + dot2 + dot3) * scale;
          scores[j] = logit;
          if (logit > max) max = logit;
        }
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          const p = Math.exp(scores[j] - max);
          scores[j] = p;
          sum += p;
        }
        acc.fill(0);
        for (let j = 0; j <= last; j++) {
          const p = scores[j];
          const vRow = kvBase + j * headDim;
          for (let d = 0; d < headDim; d++) acc[d] += p * v[vRow + d];
        }
        const inv = 1 / sum;
        for (let d = 0; d < headDim; d++) out[qRow + d] = acc[d] * inv; // out has q's layout
      }
    }
  }
  return out;
}
