import { describe, expect, it } from 'vitest';
import { attention } from './attention.js';
import { generateInputs } from './generate.js';

const shape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 64, seqKV: 256, headDim: 64 };

describe('generateInputs', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = generateInputs(shape, { kind: 'llm', seed: 5 });
    const b = generateInputs(shape, { kind: 'llm', seed: 5 });
    const c = generateInputs(shape, { kind: 'llm', seed: 6 });
    expect(a.k).toEqual(b.k);
    expect(a.k).not.toEqual(c.k);
  });

  it('gives K outlier channels, a sink at key 0 and heavy-tailed V (llm kind)', () => {
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
    const D = shape.headDim;
    // Per-channel mean of K over tokens of kv head 0: a few channels sit far from zero.
    const means = new Float64Array(D);
    for (let j = 0; j < shape.seqKV; j++) for (let d = 0; d < D; d++) means[d] += k[j * D + d] / shape.seqKV;
    const outliers = Array.from(means).filter((m) => Math.abs(m) > 5).length;
    expect(outliers).toBeGreaterThanOrEqual(2);
    // Key 0 takes a large share of the probability mass: attention to a v that is one-hot on key 0 reads it out.
    const probe = new Float32Array(v.length);
    for (let h = 0; h < shape.kvHeads!; h++) probe[h * shape.seqKV * D] = 1;
    const out = attention(q, k, probe, shape);
    let mass = 0;
    for (let r = 0; r < shape.heads * shape.seqQ; r++) mass += out[r * D];
    expect(mass / (shape.heads * shape.seqQ)).toBeGreaterThan(0.3);
    // Student-t(4) V: excess kurtosis well above a normal's 0.
    let m2 = 0;
    let m4 = 0;
    for (const x of v) {
      m2 += x * x;
      m4 += x ** 4;
    }
    m2 /= v.length;
    m4 /= v.length;
    expect(m4 / (m2 * m2)).toBeGreaterThan(4);
  });

  it('stays in [0, 1) for uniform data and scales q by the sharpness', () => {
    const { q, k } = generateInputs(shape, { kind: 'uniform', seed: 2 });
    expect(Math.min(...k)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...k)).toBeLessThan(1);
    const sharp = generateInputs(shape, { kind: 'uniform', seed: 2, sharpness: 3 });
    expect(sharp.q[10]).toBeCloseTo(q[10] * 3, 5);
  });

  it('rejects an unknown kind', () => {
    expect(() => generateInputs(shape, { kind: 'zipf' as never })).toThrow(/kind/);
  });
});
