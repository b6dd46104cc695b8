import { describe, expect, it } from 'vitest';
import { createRng } from '../rng.js';
import { pvRowFp16, pvRowInt8, qkRowInt8 } from './gemm-int8.js';

function randomInt8(length: number, seed: number, zeroShare = 0): Int8Array {
  const rng = createRng(seed);
  return Int8Array.from({ length }, () => (rng() < zeroShare ? 0 : Math.round(rng() * 254) - 127));
}

/** The nonzero entries of one P row as the (key offset, code) lists the P·V GEMMs take. */
function sparseRow(row: ArrayLike<number>): { keys: Int32Array; values: number[] } {
  const keys: number[] = [];
  const values: number[] = [];
  for (let j = 0; j < row.length; j++) {
    if (row[j] === 0) continue;
    keys.push(j);
    values.push(row[j]);
  }
  return { keys: Int32Array.from(keys), values };
}

describe('INT8 row GEMMs', () => {
  it('qkRowInt8 equals the naive Q̂·K̂ᵀ row for ragged key counts, at offsets, extreme codes included', () => {
    for (const [keyCount, headDim] of [[1, 1], [3, 7], [4, 64], [9, 128], [64, 32], [0, 16]]) {
      const q = randomInt8(5 + headDim, keyCount * 31 + headDim);
      const k = randomInt8(3 + keyCount * headDim, keyCount * 17 + headDim);
      if (keyCount > 0) q.fill(-127, 5, 5 + headDim).fill(127, 5, 5 + (headDim >> 1));
      const dots = new Int32Array(keyCount + 2).fill(-1);
      qkRowInt8(q, 5, k, 3, keyCount, headDim, dots);
      for (let j = 0; j < keyCount + 2; j++) {
        let expected = -1; // entries past keyCount stay untouched
        if (j < keyCount) {
          expected = 0;
          for (let d = 0; d < headDim; d++) expected += q[5 + d] * k[3 + j * headDim + d];
        }
        expect(dots[j]).toBe(expected);
      }
    }
  });

  it('pvRowInt8 equals the naive P̂·V̂ row over the nonzero codes (unsigned up to 255), and overwrites acc', () => {
    for (const [keyCount, headDim] of [[1, 1], [5, 7], [8, 64], [33, 128], [64, 16]]) {
      const p = Array.from(randomInt8(keyCount, keyCount + headDim, 0.6), (x) => Math.abs(x) * 2);
      const v = randomInt8(7 + keyCount * headDim, headDim + 5);
      const { keys, values } = sparseRow(p);
      const acc = new Int32Array(headDim).fill(12345);
      pvRowInt8(keys, Int32Array.from(values), keys.length, v, 7, headDim, acc);
      for (let d = 0; d < headDim; d++) {
        let expected = 0;
        for (let j = 0; j < keyCount; j++) expected += p[j] * v[7 + j * headDim + d];
        expect(acc[d]).toBe(expected);
      }
    }
  });

  it('pvRowFp16 adds the weighted V rows into the fp32 output, within fp32 rounding of the float64 sum', () => {
    const rng = createRng(4);
    for (const [keyCount, headDim] of [[1, 3], [6, 16], [64, 128]]) {
      const p = Array.from({ length: keyCount }, () => (rng() < 0.3 ? 0 : Math.fround(rng())));
      const v = Float32Array.from({ length: 2 + keyCount * headDim }, () => Math.fround(rng() * 4 - 2));
      const { keys, values } = sparseRow(p);
      const o = Float32Array.from({ length: 1 + headDim }, () => 0.5);
      pvRowFp16(keys, Float32Array.from(values), keys.length, v, 2, headDim, o, 1);
      expect(o[0]).toBe(0.5);
      for (let d = 0; d < headDim; d++) {
        let expected = 0.5;
        for (let j = 0; j < keyCount; j++) expected += p[j] * v[2 + j * headDim + d];
        expect(Math.abs(o[1 + d] - expected)).toBeLessThanOrEqual(keyCount * 2 ** -22 * (1 + Math.abs(expected)));
      }
    }
  });
});
