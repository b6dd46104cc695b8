import { describe, expect, it } from 'vitest';
import { dequantize, quantize } from './quantize.js';
import type { AttentionShape } from './shape.js';
import { smoothChannels, smoothK } from './smoothing.js';
import { createRng } from './rng.js';
import { expectCode } from './test-helpers.js';

/** Keys like an LLM's: a few channels carry a large common offset. */
function outlierKeys(rng: () => number, shape: Required<AttentionShape>): Float32Array {
  const { batch, kvHeads, seqKV, headDim } = shape;
  const k = new Float32Array(batch * kvHeads * seqKV * headDim);
  for (let i = 0; i < k.length; i++) {
    const channel = i % headDim;
    k[i] = rng() * 2 - 1 + (channel % 7 === 3 ? 12 : 0);
  }
  return k;
}

describe('smoothChannels / smoothK', () => {
  const shape = { batch: 2, heads: 4, kvHeads: 2, seqQ: 5, seqKV: 9, headDim: 8 };

  it('removes the per-(batch, kvHead, channel) mean over tokens and returns it', () => {
    const k = outlierKeys(createRng(1), shape);
    const before = k.slice();
    const { smoothed, means } = smoothK(k, shape);
    expect(k).toEqual(before);
    expect(means.length).toBe(2 * 2 * 8);
    for (let g = 0; g < 4; g++) {
      for (let c = 0; c < 8; c++) {
        let sum = 0;
        let smoothedSum = 0;
        for (let t = 0; t < 9; t++) {
          const i = (g * 9 + t) * 8 + c;
          sum += k[i];
          smoothedSum += smoothed[i];
          expect(smoothed[i]).toBe(Math.fround(k[i] - means[g * 8 + c]));
        }
        expect(means[g * 8 + c]).toBe(Math.fround(sum / 9));
        expect(Math.abs(smoothedSum / 9)).toBeLessThan(1e-5);
      }
    }
  });

  it('leaves every query row\'s logits shifted by one constant (softmax-invariant)', () => {
    const rng = createRng(2);
    const k = outlierKeys(rng, shape);
    const { smoothed } = smoothK(k, shape);
    const q = new Float32Array(8).map(() => rng() * 2 - 1);
    const group = 3; // any (batch, kvHead)
    const shift = (t: number): number => {
      let raw = 0;
      let smooth = 0;
      for (let c = 0; c < 8; c++) {
        raw += q[c] * k[(group * 9 + t) * 8 + c];
        smooth += q[c] * smoothed[(group * 9 + t) * 8 + c];
      }
      return raw - smooth;
    };
    for (let t = 1; t < 9; t++) expect(shift(t)).toBeCloseTo(shift(0), 5);
  });

  it('shrinks the per-token INT8 error of keys with outlier channels', () => {
    const k = outlierKeys(createRng(3), shape);
    const view = { groups: 4, tokens: 9, channels: 8 };
    const spec = { bits: 8, scheme: 'symmetric', granularity: { kind: 'token' } } as const;
    const { smoothed } = smoothK(k, shape);
    const error = (x: Float32Array): number => {
      const xhat = dequantize(quantize(x, view, spec));
      let sum = 0;
      for (let i = 0; i < x.length; i++) sum += (x[i] - xhat[i]) ** 2;
      return sum;
    };
    expect(error(smoothed)).toBeLessThan(error(k) / 4);
  });

  it('maps constant channels to exact zeros', () => {
    const x = new Float32Array(12).fill(2.75);
    const { smoothed, means } = smoothChannels(x, { groups: 1, tokens: 4, channels: 3 });
    expect(Array.from(smoothed)).toEqual(new Array(12).fill(0));
    expect(Array.from(means)).toEqual([2.75, 2.75, 2.75]);
  });

  it('rejects bad inputs', () => {
    expectCode(() => smoothChannels(new Float32Array(5), { groups: 1, tokens: 2, channels: 2 }), 'ERR_QATTN_SHAPE');
    expectCode(() => smoothChannels(new Float32Array(4), { groups: 1, tokens: 0, channels: 2 }), 'ERR_QATTN_SHAPE');
    expectCode(() => smoothChannels(new Float64Array(4) as unknown as Float32Array, { groups: 1, tokens: 2, channels: 2 }), 'ERR_QATTN_DTYPE');
    expectCode(() => smoothK(new Float32Array(4), { ...shape, kvHeads: 3 }), 'ERR_QATTN_SHAPE');
    expectCode(() => smoothK(new Float32Array(4), shape), 'ERR_QATTN_SHAPE');
  });
});
