import { describe, expect, it } from 'vitest';
import { compare } from './compare.js';

describe('compare', () => {
  it('is exact for identical tensors', () => {
    const x = new Float32Array([1, -2, 3]);
    expect(compare(x, Float64Array.from(x))).toEqual({ cos: 1, relL2: 0, maxAbs: 0, rmse: 0 });
  });
  it('measures a doubled tensor as relative L2 1 and cosine 1', () => {
    const m = compare([2, 4, -6], [1, 2, -3]);
    expect(m.relL2).toBeCloseTo(1, 12);
    expect(m.cos).toBeCloseTo(1, 12);
    expect(m.maxAbs).toBe(3);
  });
  it('measures an orthogonal tensor as cosine 0', () => {
    expect(compare([0, 1], [1, 0]).cos).toBe(0);
  });
  it('never lets a NaN pass', () => {
    const m = compare([1, Number.NaN, 3], [1, 2, 3]);
    expect(Number.isNaN(m.relL2)).toBe(true);
    expect(Number.isNaN(m.maxAbs)).toBe(true);
  });
  it('rejects different lengths', () => {
    expect(() => compare([1], [1, 2])).toThrow(/lengths differ/);
  });
});
