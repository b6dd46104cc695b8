// The case generator and the edge inputs: pure, covering what issue 12 asks for, finite, and doing what each edge
// kind says.
import { LOG2E, MAX_BASE2_LOGIT, maxAbs } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { EDGE_KINDS, caseInputs, fuzzCase, FLOAT32_MIN_NORMAL, type FuzzCase } from '../src/index.js';

const many = (seed: number, count: number, profile: 'ci' | 'full' = 'ci') => Array.from({ length: count }, (_, i) => fuzzCase(seed, i, profile));

/** The case with the given edge kind among the first 42 of seed 3. */
const seed3 = many(3, 3 * EDGE_KINDS.length);
const edgeCase = (edge: string): FuzzCase => seed3.find((c) => c.edge === edge) as FuzzCase;

describe('fuzzCase', () => {
  it('is a pure function of (seed, index, profile), and different seeds give different cases', () => {
    expect(fuzzCase(7, 11, 'ci')).toEqual(fuzzCase(7, 11, 'ci'));
    expect(many(7, 20)).not.toEqual(many(8, 20));
    expect(fuzzCase(7, 11, 'ci')).not.toEqual(fuzzCase(7, 11, 'full'));
  });

  it('rejects seeds and indices it cannot replay', () => {
    expect(() => fuzzCase(-1, 0, 'ci')).toThrow(RangeError);
    expect(() => fuzzCase(2 ** 32, 0, 'ci')).toThrow(RangeError);
    expect(() => fuzzCase(1, 1.5, 'ci')).toThrow(RangeError);
  });

  it('every 3 · EDGE_KINDS.length consecutive cases hold every edge kind once, the others draw llm, sharp or uniform data', () => {
    for (const seed of [1, 99]) {
      const cases = many(seed, 3 * EDGE_KINDS.length);
      expect(cases.filter((c) => c.edge).map((c) => c.edge).sort()).toEqual([...EDGE_KINDS].sort());
      expect(cases.filter((c) => c.edge).every((c) => c.data === 'llm')).toBe(true);
    }
    expect(new Set(many(1, 100).filter((c) => !c.edge).map((c) => c.data))).toEqual(new Set(['llm', 'sharp', 'uniform']));
  });

  it('covers head dims 32–256 (some not multiples of 16), GQA 1:1 to 8:1, seqQ = 1, seqQ < seqKV, seqQ > seqKV, odd lengths, causal and not', () => {
    const cases = [1, 2, 3].flatMap((seed) => many(seed, 200));
    const shapes = cases.map((c) => c.shape);
    expect(Math.min(...shapes.map((s) => s.headDim))).toBe(32);
    expect(Math.max(...shapes.map((s) => s.headDim))).toBe(256);
    expect(shapes.some((s) => s.headDim % 16 !== 0)).toBe(true);
    expect(new Set(shapes.map((s) => s.heads / s.kvHeads))).toEqual(new Set([1, 2, 4, 8]));
    expect(shapes.some((s) => s.seqQ === 1)).toBe(true);
    expect(shapes.some((s) => s.seqQ > 1 && s.seqQ < s.seqKV)).toBe(true);
    expect(shapes.some((s) => s.seqQ > s.seqKV)).toBe(true);
    expect(shapes.filter((s) => s.seqKV % 2 === 1).length).toBeGreaterThan(shapes.length / 2);
    expect(new Set(cases.map((c) => c.causal))).toEqual(new Set([true, false]));
    expect(cases.some((c) => c.sharedInputs)).toBe(true);
  });

  it('keeps every case within its profile: valid GQA, the work cap, U[0, 1) only with ≥ 64 keys', () => {
    for (const [profile, cap] of [['ci', 1.5e6], ['full', 6.4e7]] as const) {
      for (const c of many(5, 300, profile)) {
        const { batch, heads, kvHeads, seqQ, seqKV, headDim } = c.shape;
        expect(heads % kvHeads).toBe(0);
        expect(seqQ).toBeGreaterThanOrEqual(1);
        expect(seqKV).toBeGreaterThanOrEqual(1);
        expect(batch * heads * seqQ * seqKV * headDim).toBeLessThanOrEqual(cap);
        if (c.data === 'uniform') expect(seqKV).toBeGreaterThanOrEqual(64);
      }
    }
  });
});

describe('caseInputs', () => {
  it('are finite for every edge kind, and fresh arrays on every call', () => {
    for (const edge of EDGE_KINDS) {
      const c = edgeCase(edge);
      const inputs = caseInputs(c);
      for (const x of [inputs.q, inputs.k, inputs.v]) expect(x.every(Number.isFinite)).toBe(true);
      expect(caseInputs(c).q).not.toBe(inputs.q);
      expect(Array.from(caseInputs(c).q)).toEqual(Array.from(inputs.q));
    }
  });

  it('apply each edge kind as named', () => {
    const plain = (c: FuzzCase) => caseInputs({ ...c, edge: null });
    const ratio = (a: Float32Array, b: Float32Array) => maxAbs(a) / maxAbs(b);
    const near = (actual: number, expected: number) => expect(Math.abs(actual / expected - 1)).toBeLessThan(1e-6);
    let c = edgeCase('q-huge');
    near(ratio(caseInputs(c).q, plain(c).q), 1e30);
    // logit-limit: the bound every backend checks (headDim·max|q|·max|k|·scale·log2e, default scale) is half the limit.
    c = edgeCase('logit-limit');
    const { q, k } = caseInputs(c);
    near((c.shape.headDim * maxAbs(q) * maxAbs(k) * LOG2E) / Math.sqrt(c.shape.headDim), MAX_BASE2_LOGIT / 2);
    c = edgeCase('qk-reciprocal');
    near(ratio(caseInputs(c).q, plain(c).q), 1e30);
    near(ratio(caseInputs(c).k, plain(c).k), 1e-30);
    c = edgeCase('v-max');
    near(maxAbs(caseInputs(c).v), 1e38);
    const keyRows = (c: FuzzCase, k: Float32Array) => {
      const { headDim, seqKV } = c.shape;
      return Array.from({ length: k.length / headDim }, (_, r) => ({ head: Math.floor(r / seqKV), row: k.slice(r * headDim, (r + 1) * headDim).join() }));
    };
    c = edgeCase('identical-keys');
    const rows = keyRows(c, caseInputs(c).k);
    for (const { head, row } of rows) expect(row).toBe(rows.find((r) => r.head === head)?.row);
    c = edgeCase('qk-denormal');
    expect(maxAbs(caseInputs(c).q)).toBeLessThan(FLOAT32_MIN_NORMAL);
    expect(maxAbs(caseInputs(c).k)).toBeLessThan(FLOAT32_MIN_NORMAL);
    c = edgeCase('denormal-mix');
    expect(caseInputs(c).v.some((x) => x !== 0 && Math.abs(x) < FLOAT32_MIN_NORMAL)).toBe(true);
    c = edgeCase('neg-zero');
    expect(caseInputs(c).k.some((x) => Object.is(x, -0))).toBe(true);
    c = edgeCase('q-neg-zero');
    expect(caseInputs(c).q.every((x) => Object.is(x, -0))).toBe(true);
  });

  it('put shared cases in Float32Arrays over a SharedArrayBuffer at a non-zero offset', () => {
    const c = many(4, 60).find((x) => x.sharedInputs) as FuzzCase;
    const { q } = caseInputs(c);
    expect(q.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(q.byteOffset).toBe(4);
    expect(Array.from(q)).toEqual(Array.from(caseInputs({ ...c, sharedInputs: false }).q));
  });
});
