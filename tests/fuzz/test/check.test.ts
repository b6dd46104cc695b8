// The checks the fuzz applies, on hand-made outputs: each must catch what it is for.
import { describe, expect, it } from 'vitest';
import { FLOAT32_MIN_NORMAL, type FuzzCase, cleanedInputs, float64Bar, rowCountFactor, visibleRows, firstDifference, firstNonFinite, hullViolation, judgeAgainstFloat64, modifiedInput } from '../src/index.js';

/** One head, `seqQ` queries, 3 keys, 2 channels. */
function tinyCase(seqQ: number, causal: boolean, edge: FuzzCase['edge'] = null): FuzzCase {
  return { seed: 0, index: 0, profile: 'ci', shape: { batch: 1, heads: 1, kvHeads: 1, seqQ, seqKV: 3, headDim: 2 }, causal, data: 'llm', dataSeed: 0, edge, sharedInputs: false };
}

describe('checks', () => {
  it('firstNonFinite finds NaN and ±Infinity, not huge finite values', () => {
    expect(firstNonFinite(new Float32Array([1, 3e38, -0]))).toBe(-1);
    expect(firstNonFinite(new Float32Array([1, Number.NaN]))).toBe(1);
    expect(firstNonFinite(new Float32Array([Number.NEGATIVE_INFINITY]))).toBe(0);
  });

  it('modifiedInput sees a flipped sign of zero', () => {
    const q = new Float32Array([0, 1]);
    expect(modifiedInput([q], [q.slice()])).toBeUndefined();
    q[0] = -0;
    expect(modifiedInput([q], [new Float32Array([0, 1])])).toMatch(/q\[0\]/);
  });

  it('hullViolation: outputs must lie among the visible values (causal prefix), rows without keys must be zero', () => {
    // v rows: (0, 10), (1, 20), (2, -30); channel maxima 2 and 30, tolerances 4/127 and 60/127.
    const v = new Float32Array([0, 10, 1, 20, 2, -30]);
    const full = tinyCase(1, false);
    expect(hullViolation(new Float32Array([1.5, -29]), v, full)).toBeUndefined();
    expect(hullViolation(new Float32Array([2.1, 0]), v, full)).toMatch(/out\[0\]/);
    // Causal, seqQ 4 > seqKV 3: query 0 sees nothing, query 1 only key 0.
    const causal = tinyCase(4, true);
    expect(hullViolation(new Float32Array([0, 0, 0, 10, 0.5, 15, 2, -30]), v, causal)).toBeUndefined();
    expect(hullViolation(new Float32Array([0, 0.001, 0, 10, 0.5, 15, 2, -30]), v, causal)).toMatch(/sees no key/);
    expect(hullViolation(new Float32Array([0, 0, 0.5, 10, 0.5, 15, 2, -30]), v, causal)).toMatch(/out\[2\]/);
  });

  it('judgeAgainstFloat64 holds outputs to the bar, subnormal outputs to 2^−126, argmax edges to the hull', () => {
    const v = new Float32Array([0, 10, 1, 20, 2, -30]);
    const c = tinyCase(1, false);
    const expected = Float64Array.from([1, 2]);
    expect(judgeAgainstFloat64(new Float32Array([1.001, 2]), expected, v, c, 0.02).failure).toBeUndefined();
    expect(judgeAgainstFloat64(new Float32Array([1.1, 2]), expected, v, c, 0.02).failure).toMatch(/bar 0.02/);
    const tiny = Float64Array.from([1e-39, -2e-39]);
    expect(judgeAgainstFloat64(new Float32Array([0, 0]), tiny, v, c, 0.02).failure).toBeUndefined();
    expect(judgeAgainstFloat64(new Float32Array([FLOAT32_MIN_NORMAL * 2, 0]), tiny, v, c, 0.02).failure).toMatch(/subnormal/);
    const argmax = tinyCase(1, false, 'q-huge');
    expect(judgeAgainstFloat64(new Float32Array([2, -30]), expected, v, argmax, 0.02)).toEqual(expect.objectContaining({ failure: undefined }));
    expect(judgeAgainstFloat64(new Float32Array([2, -30]), expected, v, argmax, 0.02).bar).toBeUndefined();
    expect(judgeAgainstFloat64(new Float32Array([2, -31]), expected, v, argmax, 0.02).failure).toMatch(/outside/);
  });

  it('cleanedInputs turns −0 and subnormals into +0; firstDifference allows 2^−126 per element and no more', () => {
    const { q } = cleanedInputs(new Float32Array([-0, 1e-40, -1e-39, 2e-38, -1]), new Float32Array(0), new Float32Array(0));
    expect(Array.from(q).map((x) => (Object.is(x, -0) ? '-0' : x))).toEqual([0, 0, 0, Math.fround(2e-38), -1]);
    expect(firstDifference(new Float32Array([-0, 1e-38, 5]), new Float32Array([0, 0, 5]))).toBeUndefined();
    expect(firstDifference(new Float32Array([0, 3e-38]), new Float32Array([0, 0]))).toMatch(/out\[1\]/);
    expect(firstDifference(new Float32Array([Number.NaN]), new Float32Array([Number.NaN]))).toMatch(/out\[0\]/);
  });
});

describe('float64 bars', () => {
  it('widen by 1 + 1.5/√rows for outputs of few rows, counting only rows that see a key', () => {
    expect(rowCountFactor(1)).toBe(2.5);
    expect(rowCountFactor(64)).toBeCloseTo(1.1875, 12);
    expect(float64Bar('flash-int8', 'cpu', 'llm', 1)).toBeCloseTo(0.05, 12);
    expect(float64Bar('turbo-attn', 'webgpu', 'sharp', 256)).toBeCloseTo(0.045 * 1.09375, 12);
    // Causal with seqQ > seqKV: the first seqQ − seqKV rows see no key.
    expect(visibleRows({ batch: 2, heads: 4, kvHeads: 2, seqQ: 7, seqKV: 3, headDim: 32 }, true)).toBe(2 * 4 * 3);
    expect(visibleRows({ batch: 2, heads: 4, kvHeads: 2, seqQ: 7, seqKV: 3, headDim: 32 }, false)).toBe(2 * 4 * 7);
  });
});
