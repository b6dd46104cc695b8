import { describe, expect, it } from 'vitest';
import { allocateHeadBits, headPriorities, headPriority } from './head-priority.js';
import { expectCode } from './test-helpers.js';

describe('headPriority', () => {
  it('is gap × population standard deviation', () => {
    // values 1, 3, 5, 7: gap 6, mean 4, variance (9 + 1 + 1 + 9) / 4 = 5
    expect(headPriority([1, 3, 5, 7])).toBeCloseTo(6 * Math.sqrt(5), 12);
    expect(headPriority([9, 1, 3, 5, 7, 9], 1, 4)).toBeCloseTo(6 * Math.sqrt(5), 12);
  });

  it('is 0 for constant heads and scales with the square of the values', () => {
    expect(headPriority([2.5, 2.5, 2.5])).toBe(0);
    const base = [0.1, -0.4, 0.3, 0.9];
    expect(headPriority(base.map((x) => 3 * x))).toBeCloseTo(9 * headPriority(base), 12);
  });

  it('splits a block into heads', () => {
    const values = Float32Array.of(0, 0, 1, -1, 4, -4);
    expect(Array.from(headPriorities(values, 3))).toEqual([0, 2 * 1, 8 * 4]);
  });

  it('rejects empty ranges, uneven heads and non-finite values', () => {
    expectCode(() => headPriority([], 0, 0), 'ERR_QATTN_SHAPE');
    expectCode(() => headPriority([1, 2], 1, 2), 'ERR_QATTN_SHAPE');
    expectCode(() => headPriorities(new Float32Array(5), 2), 'ERR_QATTN_SHAPE');
    expectCode(() => headPriorities(new Float32Array(4), 0), 'ERR_QATTN_SHAPE');
    expectCode(() => headPriority([1, Number.NaN]), 'ERR_QATTN_NONFINITE');
  });
});

describe('allocateHeadBits', () => {
  it('gives 2 bits to the lowest-priority fraction of heads, 4 to the rest', () => {
    const priorities = [5, 1, 9, 3, 7, 2, 8, 4];
    expect(Array.from(allocateHeadBits(priorities, 0.5))).toEqual([4, 2, 4, 2, 4, 2, 4, 2]);
    expect(Array.from(allocateHeadBits(priorities, 0.25))).toEqual([4, 2, 4, 4, 4, 2, 4, 4]);
    expect(Array.from(allocateHeadBits(priorities, 0))).toEqual([4, 4, 4, 4, 4, 4, 4, 4]);
    expect(Array.from(allocateHeadBits(priorities, 1))).toEqual([2, 2, 2, 2, 2, 2, 2, 2]);
  });

  it('rounds the 2-bit share down, guarding against float rounding of the product', () => {
    const flat = new Float64Array(100);
    // 0.29 · 100 is 28.999999999999996 in float64.
    expect(allocateHeadBits(flat, 0.29).filter((b) => b === 2).length).toBe(29);
    expect(allocateHeadBits([1, 2, 3], 0.5).filter((b) => b === 2).length).toBe(1);
  });

  it('breaks ties by head index, deterministically', () => {
    expect(Array.from(allocateHeadBits([1, 1, 1, 1], 0.5))).toEqual([2, 2, 4, 4]);
    expect(Array.from(allocateHeadBits([3, 1, 1, 0], 0.5))).toEqual([4, 2, 4, 2]);
  });

  it('rejects a fraction outside [0, 1] and non-finite priorities', () => {
    for (const bad of [-0.1, 1.5, Number.NaN]) expectCode(() => allocateHeadBits([1, 2], bad), 'ERR_QATTN_OPTION');
    expectCode(() => allocateHeadBits([1, Infinity], 0.5), 'ERR_QATTN_NONFINITE');
  });
});
