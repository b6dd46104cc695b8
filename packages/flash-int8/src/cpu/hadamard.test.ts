import { createRng } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { hadamardBlockSize, hadamardSigns, rotateRows } from './hadamard.js';

describe('Hadamard rotation', () => {
  it('picks the largest power-of-two block dividing headDim (≤ 256)', () => {
    expect([64, 96, 128, 80, 7, 512].map(hadamardBlockSize)).toEqual([64, 32, 128, 16, 1, 256]);
  });

  it('uses ±1 signs only', () => {
    expect(Array.from(hadamardSigns(128)).every((s) => s === 1 || s === -1)).toBe(true);
  });

  it.each([32, 96, 128])('is orthogonal: dot products and norms are preserved (headDim %i)', (headDim) => {
    const rng = createRng(headDim);
    const x = new Float32Array(4 * headDim).map(() => rng() * 2 - 1);
    const before = x.slice();
    const rotated = rotateRows(x, headDim);
    expect(x).toEqual(before);
    const dot = (a: Float32Array, i: number, j: number) => {
      let sum = 0;
      for (let d = 0; d < headDim; d++) sum += a[i * headDim + d] * a[j * headDim + d];
      return sum;
    };
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(dot(rotated, i, j)).toBeCloseTo(dot(x, i, j), 4);
  });

  it('spreads an outlier channel over its block', () => {
    const x = new Float32Array(64);
    x[5] = 100;
    const rotated = rotateRows(x, 64);
    for (const value of rotated) expect(Math.abs(value)).toBeCloseTo(100 / 8, 4);
  });
});
