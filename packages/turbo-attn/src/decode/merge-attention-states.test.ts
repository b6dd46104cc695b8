import { createKVCache } from '@qattn/kv-cache';
import { attention, compare, generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { type AttentionState, mergeAttentionStates, turboDecode } from './index.js';
import { expectCode } from './test-helpers.js';

/** Float64 attention state (normalized output, natural-log lse) of q `[rows, D]` over keys [from, to) of k, v `[N, D]`. */
function exactState(q: Float32Array, k: Float32Array, v: Float32Array, headDim: number, from: number, to: number): AttentionState {
  const rows = q.length / headDim;
  const out = new Float32Array(q.length);
  const lse = new Float32Array(rows).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    if (to <= from) continue;
    const logits: number[] = [];
    for (let j = from; j < to; j++) {
      let dot = 0;
      for (let d = 0; d < headDim; d++) dot += q[r * headDim + d] * k[j * headDim + d];
      logits.push(dot / Math.sqrt(headDim));
    }
    const max = Math.max(...logits);
    const weights = logits.map((x) => Math.exp(x - max));
    const sum = weights.reduce((a, b) => a + b, 0);
    for (let d = 0; d < headDim; d++) out[r * headDim + d] = weights.reduce((acc, w, j) => acc + w * v[(from + j) * headDim + d], 0) / sum;
    lse[r] = max + Math.log(sum);
  }
  return { out, lse };
}

describe('mergeAttentionStates', () => {
  const shape = { batch: 1, heads: 1, kvHeads: 1, seqQ: 5, seqKV: 300, headDim: 64 };
  const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 11 });
  const exact = attention(q, k, v, { ...shape }, {});

  it('merging the states of the keys split in two equals attention over all keys', () => {
    for (const cut of [1, 37, 150, 299]) {
      const merged = mergeAttentionStates(exactState(q, k, v, 64, 0, cut), exactState(q, k, v, 64, cut, 300));
      expect(compare(merged.out, exact).relL2).toBeLessThan(1e-6);
      const whole = exactState(q, k, v, 64, 0, 300);
      for (let r = 0; r < 5; r++) expect(merged.lse[r]).toBeCloseTo(whole.lse[r], 5);
    }
  });

  it('is symmetric, and a state over no keys (lse −Infinity) is its identity', () => {
    const a = exactState(q, k, v, 64, 0, 100);
    const b = exactState(q, k, v, 64, 100, 300);
    expect(compare(mergeAttentionStates(a, b).out, mergeAttentionStates(b, a).out).relL2).toBeLessThan(1e-7);
    const empty = exactState(q, k, v, 64, 0, 0);
    expect(mergeAttentionStates(a, empty)).toEqual(a);
    expect(mergeAttentionStates(empty, a)).toEqual(a);
    expect(mergeAttentionStates(empty, empty)).toEqual(empty);
  });

  it('merges decodes of two caches holding the two halves of a sequence (ring attention) within the cache error', async () => {
    const decodeShape = { batch: 1, heads: 8, kvHeads: 2, seqQ: 1, seqKV: 1000, headDim: 64 };
    const data = generateInputs(decodeShape, { kind: 'llm', seed: 12 });
    const half = (x: Float32Array, from: number, to: number) => {
      const out = new Float32Array(2 * (to - from) * 64);
      for (let g = 0; g < 2; g++) out.set(x.subarray((g * 1000 + from) * 64, (g * 1000 + to) * 64), g * (to - from) * 64);
      return out;
    };
    const states = [];
    for (const [from, to] of [[0, 600], [600, 1000]]) {
      const cache = await createKVCache({ backend: 'cpu', batch: 1, kvHeads: 2, headDim: 64, bits: 8 });
      cache.append(half(data.k, from, to), half(data.v, from, to));
      states.push(await turboDecode(data.q, cache, { returnLse: true }));
    }
    const merged = mergeAttentionStates(states[0], states[1]);
    expect(compare(merged.out, attention(data.q, data.k, data.v, decodeShape, { causal: true })).relL2).toBeLessThan(0.02);
  });

  it('rejects mismatched or invalid states', async () => {
    const a = exactState(q, k, v, 64, 0, 10);
    await expectCode(() => mergeAttentionStates(a, { out: a.out.subarray(64), lse: a.lse.subarray(1) }), 'ERR_QATTN_SHAPE', 'rows');
    await expectCode(() => mergeAttentionStates({ out: new Float32Array(10), lse: new Float32Array(3) }, { out: new Float32Array(10), lse: new Float32Array(3) }), 'ERR_QATTN_SHAPE');
    await expectCode(() => mergeAttentionStates(a, { out: a.out, lse: Float32Array.from(a.lse, (x, r) => (r === 2 ? Number.NaN : x)) }), 'ERR_QATTN_NONFINITE', 'b.lse[2]');
    await expectCode(() => mergeAttentionStates(a, { out: a.out, lse: a.lse.map(() => Infinity) }), 'ERR_QATTN_NONFINITE', 'b.lse[0]');
    await expectCode(() => mergeAttentionStates({ out: Array.from(a.out), lse: a.lse } as never, a), 'ERR_QATTN_DTYPE', 'a.out');
    await expectCode(() => mergeAttentionStates(null as never, a), 'ERR_QATTN_DTYPE', 'a');
  });
});
