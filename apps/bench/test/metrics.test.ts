import { describe, expect, it } from 'vitest';
import { accuracySubProblem } from '../src/accuracy.js';
import { attentionOps, median, tops, visiblePairs } from '../src/metrics.js';

/** Counts visible pairs one by one with the mask rule of the contract: query i sees key j iff j ≤ i + seqKV − seqQ. */
function bruteForcePairs(seqQ: number, seqKV: number, causal: boolean): number {
  let count = 0;
  for (let i = 0; i < seqQ; i++) for (let j = 0; j < seqKV; j++) if (!causal || j <= i + seqKV - seqQ) count++;
  return count;
}

describe('visiblePairs', () => {
  it('matches a brute-force count for square, longer-KV, longer-Q and decode shapes', () => {
    const lengths = [1, 2, 3, 7, 16, 33, 100];
    for (const seqQ of lengths) {
      for (const seqKV of lengths) {
        for (const causal of [false, true]) {
          expect(visiblePairs(seqQ, seqKV, causal), `${seqQ}x${seqKV} causal=${causal}`).toBe(bruteForcePairs(seqQ, seqKV, causal));
        }
      }
    }
  });

  it('gives the closed forms of the papers: N(N+1)/2 when square, all keys for a decode step', () => {
    expect(visiblePairs(16384, 16384, true)).toBe((16384 * 16385) / 2);
    expect(visiblePairs(1, 65536, true)).toBe(65536);
    expect(visiblePairs(4096, 1024, true)).toBe((1024 * 1025) / 2);
  });
});

describe('attentionOps and tops', () => {
  it('counts 4·B·H·pairs·D, GQA does not reduce the work', () => {
    const shape = { batch: 4, heads: 32, kvHeads: 8, seqQ: 1024, seqKV: 1024, headDim: 128, causal: false };
    expect(attentionOps(shape)).toBe(4 * 4 * 32 * 1024 * 1024 * 128);
    expect(attentionOps({ ...shape, causal: true })).toBe(4 * 4 * 32 * ((1024 * 1025) / 2) * 128);
  });

  it('converts ops and milliseconds into TOPS', () => {
    // The paper shape B4 H32 N16K D128 in 10 ms is 1759 TOPS: 4·4·32·16384²·128 / 0.01 s.
    const ops = attentionOps({ batch: 4, heads: 32, kvHeads: 32, seqQ: 16384, seqKV: 16384, headDim: 128, causal: false });
    expect(tops(ops, 10)).toBeCloseTo(1759.2186, 3);
    expect(tops(1e12, 1000)).toBe(1);
  });

  it('takes the median of odd and even samples without reordering the input', () => {
    const samples = [5, 1, 3];
    expect(median(samples)).toBe(3);
    expect(samples).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('accuracySubProblem', () => {
  it('keeps 2 heads for MHA, one kv head with up to 4 query heads for GQA, and bounds the reference work', () => {
    const mha = accuracySubProblem({ batch: 4, heads: 32, kvHeads: 32, seqQ: 1024, seqKV: 1024, headDim: 128, causal: true }, 128);
    expect([mha.heads, mha.kvHeads, mha.seqQ, mha.seqKV]).toEqual([2, 2, 128, 1024]);
    const gqa = accuracySubProblem({ batch: 4, heads: 32, kvHeads: 8, seqQ: 1, seqKV: 65536, headDim: 128, causal: false }, 128);
    expect([gqa.heads, gqa.kvHeads, gqa.seqQ]).toEqual([4, 1, 1]);
    const long = accuracySubProblem({ batch: 4, heads: 32, kvHeads: 32, seqQ: 16384, seqKV: 16384, headDim: 128, causal: false }, 128, 2e9);
    expect(4 * long.heads * long.seqQ * long.seqKV * long.headDim).toBeLessThanOrEqual(2e9);
    expect(long.seqQ).toBeGreaterThanOrEqual(16);
    expect(long.description).toContain('last');
  });
});
