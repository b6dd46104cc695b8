import { describe, expect, it } from 'vitest';
import { pvTileInt8, qkTileInt8 } from './gemm_int8_cpu.js';

function randomInt8(length: number, seed: number, zeroShare = 0): Int8Array {
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return Int8Array.from({ length }, () => (next() < zeroShare ? 0 : Math.round(next() * 254) - 127));
}

describe('INT8 tile GEMMs', () => {
  it('qkTileInt8 equals the naive Q̂·K̂ᵀ for ragged tiles, at offsets, with a row stride', () => {
    for (const [rows, cols, headDim] of [[1, 1, 1], [3, 5, 7], [4, 4, 64], [13, 9, 128], [64, 64, 32]]) {
      const q = randomInt8(5 + rows * headDim, rows * 31 + headDim);
      const k = randomInt8(3 + cols * headDim, cols * 17 + headDim);
      const stride = cols + 2;
      const dots = new Int32Array(rows * stride).fill(-1);
      qkTileInt8(q, 5, k, 3, rows, cols, headDim, dots, stride);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < stride; c++) {
          let expected = -1; // padding columns stay untouched
          if (c < cols) {
            expected = 0;
            for (let d = 0; d < headDim; d++) expected += q[5 + r * headDim + d] * k[3 + c * headDim + d];
          }
          expect(dots[r * stride + c]).toBe(expected);
        }
      }
    }
  });

  it('pvTileInt8 equals the naive P̂·V̂, including rows and key groups of zero codes, and overwrites acc', () => {
    for (const [rows, cols, headDim] of [[1, 1, 1], [3, 5, 7], [4, 8, 64], [13, 33, 128]]) {
      const stride = cols + 3;
      const p = randomInt8(rows * stride, rows + cols, 0.6).map((x) => Math.abs(x));
      const v = randomInt8(7 + cols * headDim, headDim + 5);
      const acc = new Int32Array(rows * headDim).fill(12345);
      pvTileInt8(p, stride, v, 7, rows, cols, headDim, acc);
      for (let r = 0; r < rows; r++) {
        for (let d = 0; d < headDim; d++) {
          let expected = 0;
          for (let c = 0; c < cols; c++) expected += p[r * stride + c] * v[7 + c * headDim + d];
          expect(acc[r * headDim + d]).toBe(expected);
        }
      }
    }
  });
});
