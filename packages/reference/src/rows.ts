import type { AttentionShape } from '@qattn/quant-core';

/**
 * The test API GPU suites are written against: vitest's and node:test's `describe`/`it` both fit, so one suite runs
 * under vitest in the workspace and under `node --test` on GPU hosts without pnpm.
 */
export interface SuiteApi {
  describe: (name: string, fn: () => void) => unknown;
  it: (name: string, fn: () => void | Promise<void>) => unknown;
}

/**
 * Float64 attention of a few query rows (same row indices in every (batch, head)): `[batch·heads, rows.length,
 * headDim]`. For long sequences, where {@link attention} over every row would take minutes on the CPU, GPU tests
 * compare sampled rows. Default scale 1/√headDim; causal masks are bottom-right aligned; GQA as everywhere in qattn.
 */
export function attentionRows(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: Required<AttentionShape>,
  causal: boolean,
  rows: readonly number[],
): Float64Array {
  const { seqQ, seqKV, headDim: d, heads, kvHeads, batch } = shape;
  const out = new Float64Array(batch * heads * rows.length * d);
  const scale = 1 / Math.sqrt(d);
  const logits = new Float64Array(seqKV);
  // (batch, head) pairs flattened: query head h of batch b is row block b·heads + h, its kv head b·kvHeads + ⌊h/group⌋.
  for (let h = 0; h < batch * heads; h++) {
    const kvh = Math.floor(h / heads) * kvHeads + Math.floor((h % heads) / (heads / kvHeads));
    rows.forEach((i, r) => {
      const last = causal ? Math.min(seqKV - 1, i + seqKV - seqQ) : seqKV - 1;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(h * seqQ + i) * d + c] * k[(kvh * seqKV + j) * d + c];
        logits[j] = dot * scale;
        if (logits[j] > max) max = logits[j];
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        logits[j] = Math.exp(logits[j] - max);
        sum += logits[j];
      }
      for (let j = 0; j <= last; j++) {
        const p = logits[j] / sum;
        for (let c = 0; c < d; c++) out[(h * rows.length + r) * d + c] += p * v[(kvh * seqKV + j) * d + c];
      }
    });
  }
  return out;
}

/** The same rows of a full output `[batch, heads, seqQ, headDim]`, laid out as {@link attentionRows} returns them. */
export function selectRows(out: Float32Array, shape: Required<AttentionShape>, rows: readonly number[]): Float32Array {
  const { seqQ, headDim: d } = shape;
  const heads = shape.batch * shape.heads;
  const picked = new Float32Array(heads * rows.length * d);
  for (let h = 0; h < heads; h++) {
    rows.forEach((i, r) => picked.set(out.subarray((h * seqQ + i) * d, (h * seqQ + i + 1) * d), (h * rows.length + r) * d));
  }
  return picked;
}
