import { QattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { attention } from './attention.js';
import { generateInputs } from './generate.js';

/** An independent formulation: explicit mask matrix, log-sum-exp softmax, GQA by explicit index. */
function naiveAttention(q: Float32Array, k: Float32Array, v: Float32Array, B: number, H: number, Hkv: number, Sq: number, Skv: number, D: number, causal: boolean, scale: number) {
  const out = new Float64Array(q.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const hk = Math.floor((h * Hkv) / H);
      for (let i = 0; i < Sq; i++) {
        const logits: number[] = [];
        for (let j = 0; j < Skv; j++) {
          const visible = !causal || j <= i + Skv - Sq;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[((b * H + h) * Sq + i) * D + d] * k[((b * Hkv + hk) * Skv + j) * D + d];
          logits.push(visible ? dot * scale : -Infinity);
        }
        const m = Math.max(...logits);
        if (m === -Infinity) continue;
        const lse = m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0));
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < Skv; j++) acc += Math.exp(logits[j] - lse) * v[((b * Hkv + hk) * Skv + j) * D + d];
          out[((b * H + h) * Sq + i) * D + d] = acc;
        }
      }
    }
  return out;
}

describe('attention (float64 reference)', () => {
  const cases = [
    { B: 1, H: 2, Hkv: 2, Sq: 5, Skv: 9, D: 8, causal: false },
    { B: 2, H: 4, Hkv: 1, Sq: 7, Skv: 7, D: 16, causal: true },
    { B: 1, H: 6, Hkv: 3, Sq: 3, Skv: 11, D: 4, causal: true },
    { B: 1, H: 2, Hkv: 2, Sq: 9, Skv: 4, D: 8, causal: true },
  ];
  for (const c of cases) {
    it(`matches an independent log-sum-exp formulation (${JSON.stringify(c)})`, () => {
      const shape = { batch: c.B, heads: c.H, kvHeads: c.Hkv, seqQ: c.Sq, seqKV: c.Skv, headDim: c.D };
      const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 3 });
      const got = attention(q, k, v, shape, { causal: c.causal });
      const want = naiveAttention(q, k, v, c.B, c.H, c.Hkv, c.Sq, c.Skv, c.D, c.causal, 1 / Math.sqrt(c.D));
      for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i], 10);
    });
  }

  it('averages v when every key is the same, and the first causal row copies v[0]', () => {
    const shape = { batch: 1, heads: 1, seqQ: 3, seqKV: 3, headDim: 2 };
    const q = new Float32Array([1, 2, 3, 4, 5, 6]);
    const k = new Float32Array([1, 1, 1, 1, 1, 1]);
    const v = new Float32Array([1, 10, 2, 20, 6, 60]);
    const full = attention(q, k, v, shape);
    expect(Array.from(full.slice(0, 2))).toEqual([3, 30]);
    const causal = attention(q, k, v, shape, { causal: true });
    expect(Array.from(causal)).toEqual([1, 10, 1.5, 15, 3, 30]);
  });

  it('gives zero rows to queries that see no key (causal, seqQ > seqKV)', () => {
    const shape = { batch: 1, heads: 1, seqQ: 5, seqKV: 2, headDim: 4 };
    const { q, k, v } = generateInputs(shape, { kind: 'normal', seed: 1 });
    const out = attention(q, k, v, shape, { causal: true });
    expect(Array.from(out.slice(0, 12)).every((x) => x === 0)).toBe(true);
    expect(Array.from(out.slice(12)).some((x) => x !== 0)).toBe(true);
  });

  it('applies an explicit scale', () => {
    const shape = { batch: 1, heads: 1, seqQ: 4, seqKV: 6, headDim: 8 };
    const { q, k, v } = generateInputs(shape, { kind: 'normal', seed: 2 });
    const doubledQ = q.map((x) => x * 2);
    const a = attention(q, k, v, shape, { scale: 0.5 });
    const b = attention(doubledQ, k, v, shape, { scale: 0.25 });
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 6);
  });

  it('rejects inconsistent input with a typed error', () => {
    const shape = { batch: 1, heads: 1, seqQ: 2, seqKV: 2, headDim: 2 };
    expect(() => attention(new Float32Array(3), new Float32Array(4), new Float32Array(4), shape)).toThrow(QattnError);
  });
});
