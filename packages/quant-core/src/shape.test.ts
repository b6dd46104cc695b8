import { describe, expect, it } from 'vitest';
import { isQattnError, QattnError } from './errors.js';
import { MAGIC_DEQUANT_MAX_ABS, MAX_BASE2_LOGIT, assertLogitsFitFloat32, assertLogitsInRange, assertSmoothingFitsFloat32, assertValuesFitInt8Dequant, lastVisibleKey, maxAbs, resolveCommonOptions, resolveShape, scanFinite, validateAttentionInputs } from './shape.js';

const shape = { batch: 2, heads: 4, kvHeads: 2, seqQ: 3, seqKV: 5, headDim: 8 };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isQattnError(err) ? err.code : `not a QattnError: ${String(err)}`;
  }
  return undefined;
}

describe('resolveShape', () => {
  it('fills kvHeads and derives sizes', () => {
    expect(resolveShape({ ...shape, kvHeads: undefined })).toMatchObject({ kvHeads: 4, groupSize: 1, qElements: 2 * 4 * 3 * 8 });
    expect(resolveShape(shape)).toMatchObject({ groupSize: 2, kvElements: 2 * 2 * 5 * 8 });
  });
  it.each([
    ['batch', 0],
    ['heads', -1],
    ['seqKV', 2.5],
    ['headDim', Number.NaN],
    ['seqQ', '3'],
  ])('rejects %s = %s naming the dimension', (name, value) => {
    try {
      resolveShape({ ...shape, [name]: value });
      expect.unreachable();
    } catch (err) {
      expect(isQattnError(err, 'ERR_QATTN_SHAPE')).toBe(true);
      expect((err as Error).message).toContain(name);
    }
  });
  it('rejects heads that kvHeads does not divide', () => {
    expect(codeOf(() => resolveShape({ ...shape, kvHeads: 3 }))).toBe('ERR_QATTN_SHAPE');
  });
});

describe('validateAttentionInputs', () => {
  const q = new Float32Array(2 * 4 * 3 * 8);
  const kv = new Float32Array(2 * 2 * 5 * 8);
  it('accepts consistent input and applies the default scale', () => {
    expect(validateAttentionInputs(q, kv, kv, shape).scale).toBeCloseTo(1 / Math.sqrt(8));
  });
  it('names the first non-finite element', () => {
    const bad = kv.slice();
    bad[7] = Number.POSITIVE_INFINITY;
    try {
      validateAttentionInputs(q, kv, bad, shape);
      expect.unreachable();
    } catch (err) {
      expect(isQattnError(err, 'ERR_QATTN_NONFINITE')).toBe(true);
      expect((err as QattnError).message).toContain('v[7]');
      expect((err as QattnError).details).toMatchObject({ tensor: 'v', index: 7 });
    }
  });
  it('rejects wrong dtypes and lengths', () => {
    expect(codeOf(() => validateAttentionInputs(new Float64Array(q.length), kv, kv, shape))).toBe('ERR_QATTN_DTYPE');
    expect(codeOf(() => validateAttentionInputs(q, kv.subarray(1), kv, shape))).toBe('ERR_QATTN_SHAPE');
  });
  it('rejects invalid common options', () => {
    expect(codeOf(() => resolveCommonOptions({ scale: 0 }, 8))).toBe('ERR_QATTN_OPTION');
    expect(codeOf(() => resolveCommonOptions({ causal: 1 as never }, 8))).toBe('ERR_QATTN_OPTION');
  });
});

describe('lastVisibleKey', () => {
  it('aligns the causal mask bottom-right', () => {
    expect(lastVisibleKey(0, 4, 10, true)).toBe(6);
    expect(lastVisibleKey(3, 4, 10, true)).toBe(9);
    expect(lastVisibleKey(0, 5, 2, true)).toBe(-1);
    expect(lastVisibleKey(0, 5, 2, false)).toBe(1);
  });
});

describe('value ranges', () => {
  it('maxAbs finds the largest magnitude', () => {
    expect(maxAbs(new Float32Array([1, -7, 3]))).toBe(7);
    expect(maxAbs(new Float32Array(0))).toBe(0);
  });
  it('refuses base-2 logit bounds beyond MAX_BASE2_LOGIT (2^27) and accepts the bound itself', () => {
    const small = new Float32Array([1, 2, 3, 4]);
    expect(() => assertLogitsInRange('test', small, small, 4, 0.5)).not.toThrow();
    // headDim·max|q|·max|k|·scale·log2e with max|q| chosen so the bound lands exactly on the limit, then one ulp past.
    const at = Math.sqrt(MAX_BASE2_LOGIT / (4 * 0.5 * Math.LOG2E));
    expect(() => assertLogitsInRange('test', small, small, 4, 0.5, { q: at * 0.999, k: at })).not.toThrow();
    const past = { q: at * 1.001, k: at };
    expect(codeOf(() => assertLogitsInRange('test', small, small, 4, 0.5, past))).toBe('ERR_QATTN_UNSUPPORTED');
    // q × 1e30 (fuzz seed 1 case 41: NaN on CUDA before) is refused, with a message that names the cause.
    const huge = new Float32Array([1e30, 0, 0, 0]);
    try {
      assertLogitsInRange('test', huge, small, 4, 0.5);
      expect.unreachable();
    } catch (err) {
      expect(isQattnError(err, 'ERR_QATTN_UNSUPPORTED')).toBe(true);
      expect((err as Error).message).toMatch(/^test: base-2 logits may reach .* fused fp32 softmax/);
    }
    expect(assertLogitsFitFloat32).toBe(assertLogitsInRange);
  });
  it('refuses K/V smoothing whose float32 channel sums could overflow (max·(keys + 1) > FLOAT32_MAX / 2), naming the option', () => {
    const v = new Float32Array([1e35, -3, 0, 2]);
    expect(() => assertSmoothingFitsFloat32('test', 'v', v, 100)).not.toThrow(); // 1.01e37
    expect(() => assertSmoothingFitsFloat32('test', 'v', v, 4095)).toThrow(expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED', message: expect.stringMatching(/smoothV: false/) }));
    expect(() => assertSmoothingFitsFloat32('test', 'k', v, 4095, 1)).not.toThrow(); // a known max|k| is used as given
    expect(() => assertSmoothingFitsFloat32('test', 'k', v, 4095)).toThrow(/smoothK/);
  });
  it('refuses V too large for the magic-number dequantization (1.5·2^23·max|v|/127 must stay finite), twice max|v| when smoothed', () => {
    expect(1.5 * 2 ** 23 * (MAGIC_DEQUANT_MAX_ABS / 127)).toBeLessThan(3.4028234663852886e38);
    const v = new Float32Array([1e33, -1]);
    expect(() => assertValuesFitInt8Dequant('test', v, false)).not.toThrow();
    expect(() => assertValuesFitInt8Dequant('test', v, true)).toThrow(expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' })); // 2e33 ≥ 1.29e33
    expect(() => assertValuesFitInt8Dequant('test', new Float32Array([1e38]), false)).toThrow(/magic-number/);
  });
});

describe('scanFinite', () => {
  it('returns max|x| for every length (the unrolled body and the tail), −0 and denormals included', () => {
    for (const n of [0, 1, 3, 4, 5, 8, 11]) {
      const x = new Float32Array(n).map((_, i) => (i % 2 ? -1 : 1) * (i + 0.5) * 1e-3);
      if (n > 0) x[n - 1] = -7.25;
      expect(scanFinite('x', x)).toBe(maxAbs(x));
    }
    expect(scanFinite('x', new Float32Array([-0, 1e-45, -0]))).toBe(Math.fround(1e-45));
  });

  it('throws ERR_QATTN_NONFINITE naming the first bad index, wherever it sits in the unrolled loop', () => {
    for (const n of [1, 4, 7, 9]) {
      for (let at = 0; at < n; at++) {
        for (const bad of [Number.NaN, Infinity, -Infinity]) {
          const x = new Float32Array(n).fill(0.5);
          x[at] = bad;
          let error: unknown;
          try {
            scanFinite('k', x);
          } catch (err) {
            error = err;
          }
          expect(isQattnError(error, 'ERR_QATTN_NONFINITE')).toBe(true);
          expect((error as QattnError).message).toContain(`k[${at}]`);
        }
      }
    }
  });

  it('validateAttentionInputs reports each tensor\'s max|x|, which assertLogitsInRange then trusts', () => {
    const q = new Float32Array(2 * 4 * 3 * 8).fill(0.25);
    const k = new Float32Array(2 * 2 * 5 * 8).fill(-0.5);
    const v = new Float32Array(2 * 2 * 5 * 8).fill(2);
    const { maxAbs: found } = validateAttentionInputs(q, k, v, shape);
    expect(found).toEqual({ q: 0.25, k: 0.5, v: 2 });
    expect(codeOf(() => assertLogitsInRange('t', q, k, 8, 1, { q: 1e30, k: 1e30 }))).toBe('ERR_QATTN_UNSUPPORTED');
    expect(codeOf(() => assertLogitsInRange('t', q, k, 8, 1, found))).toBeUndefined();
  });
});
