import { createRng } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { hadamardRotate, hadamardSigns, hadamardUnrotate } from './index.js';

describe('Hadamard rotation', () => {
  const n = 128;
  const signs = hadamardSigns(n);
  const random = createRng(3);
  const vector = () => Float64Array.from({ length: n }, () => random() * 2 - 1);

  it('has deterministic ±1 signs', () => {
    expect(hadamardSigns(n)).toEqual(signs);
    expect(signs.every((s) => s === 1 || s === -1)).toBe(true);
    expect(signs.filter((s) => s === 1).length).toBeGreaterThan(40);
  });

  it('is orthonormal: preserves dot products, and unrotate undoes it', () => {
    const a = vector();
    const b = vector();
    const dot = (x: Float64Array, y: Float64Array) => x.reduce((sum, xi, i) => sum + xi * y[i], 0);
    const before = dot(a, b);
    const ra = a.slice();
    const rb = b.slice();
    hadamardRotate(ra, signs);
    hadamardRotate(rb, signs);
    expect(dot(ra, rb)).toBeCloseTo(before, 12);
    hadamardUnrotate(ra, signs);
    for (let i = 0; i < n; i++) expect(ra[i]).toBeCloseTo(a[i], 12);
  });

  it('spreads an outlier channel over every channel', () => {
    const spike = new Float64Array(n);
    spike[5] = 16;
    hadamardRotate(spike, signs);
    for (const x of spike) expect(Math.abs(x)).toBeCloseTo(16 / Math.sqrt(n), 12);
  });
});
