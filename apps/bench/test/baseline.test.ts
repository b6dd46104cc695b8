import { describe, expect, it } from 'vitest';
import { float32Attention } from '../src/baseline.js';
import { loadReferencePackage } from '../src/packages.js';

describe('float32Attention (the float baseline)', async () => {
  const reference = await loadReferencePackage();
  it.each([
    [{ batch: 2, heads: 4, kvHeads: 2, seqQ: 7, seqKV: 19, headDim: 24 }, true],
    [{ batch: 1, heads: 3, kvHeads: 3, seqQ: 33, seqKV: 33, headDim: 64 }, false],
    [{ batch: 1, heads: 2, kvHeads: 1, seqQ: 12, seqKV: 5, headDim: 8 }, true],
  ])('agrees with the float64 reference on %j causal=%s within fp32 rounding', (shape, causal) => {
    const { q, k, v } = reference.generateInputs!(shape, { kind: 'llm', seed: 5 });
    const copy = q.slice();
    const actual = float32Attention(q, k, v, shape, { causal });
    const expected = reference.attention!(q, k, v, shape, { causal });
    const { relL2 } = reference.compare!(actual, expected);
    // fp32 output storage rounds each value by ≤ 2^-24 relative: relL2 ≤ 6e-8; 1e-6 leaves room for summation order.
    expect(relL2).toBeLessThan(1e-6);
    expect(q).toEqual(copy);
  });
});
