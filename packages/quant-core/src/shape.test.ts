import { describe, expect, it } from 'vitest';
import { isQattnError, QattnError } from './errors.js';
import { assertLogitsFitFloat32, lastVisibleKey, maxAbs, resolveCommonOptions, resolveShape, validateAttentionInputs } from './shape.js';

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
  it('refuses logits that could overflow float32 and accepts ordinary ones', () => {
    const small = new Float32Array([1, 2, 3, 4]);
    expect(() => assertLogitsFitFloat32('test', small, small, 4, 0.5)).not.toThrow();
    const huge = new Float32Array([1e19, 0, 0, 0]);
    try {
      assertLogitsFitFloat32('test', huge, huge, 4, 0.5);
      expect.unreachable();
    } catch (err) {
      expect(isQattnError(err, 'ERR_QATTN_UNSUPPORTED')).toBe(true);
      expect((err as Error).message).toMatch(/^test: logits may reach/);
    }
  });
});
