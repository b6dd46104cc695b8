import { describe, expect, it } from 'vitest';
import { attention } from './attention.js';
import {
  type DecodeConformanceInput,
  checkDecodeConformanceCase,
  decodeAppendChunks,
  decodeConformanceCases,
  defineDecodeConformanceSuite,
} from './decode-conformance.js';

/** A target that computes float64 attention from what it is given (what a lossless cache would return). */
async function exactRun({ testCase, q, sequences }: DecodeConformanceInput): Promise<{ out: Float32Array; lse: Float32Array }> {
  const { heads, kvHeads, headDim, queryTokens, lengths } = testCase;
  const perSequence = heads * queryTokens * headDim;
  const out = new Float32Array(q.length);
  const lse = new Float32Array(lengths.length * heads * queryTokens).fill(-Infinity);
  const scale = testCase.scale ?? 1 / Math.sqrt(headDim);
  sequences.forEach(({ k, v, chunks }, b) => {
    expect(chunks.reduce((a, c) => a + c, 0)).toBe(lengths[b]);
    if (lengths[b] === 0) return;
    const qb = q.subarray(b * perSequence, (b + 1) * perSequence);
    const shape = { batch: 1, heads, kvHeads, seqQ: queryTokens, seqKV: lengths[b], headDim };
    out.set(attention(qb, k, v, shape, { causal: true, scale }), b * perSequence);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < queryTokens; i++) {
        const last = lengths[b] - queryTokens + i;
        if (last < 0) continue;
        const logits = Array.from({ length: last + 1 }, (_, j) => {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += qb[(h * queryTokens + i) * headDim + d] * k[((Math.floor(h / (heads / kvHeads)) * lengths[b]) + j) * headDim + d];
          return dot * scale;
        });
        const max = Math.max(...logits);
        lse[(b * heads + h) * queryTokens + i] = max + Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
      }
    }
  });
  return { out, lse };
}

describe('decode conformance cases', () => {
  const cases = decodeConformanceCases();

  it('have unique names and cover GQA 1:1–8:1, head dims 64/128, 1–16 query tokens, every precision and append plan', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(new Set(cases.map((c) => c.heads / c.kvHeads))).toEqual(new Set([1, 2, 4, 8]));
    expect(new Set(cases.map((c) => c.headDim))).toEqual(new Set([64, 128]));
    expect(new Set(cases.map((c) => c.queryTokens))).toEqual(new Set([1, 2, 4, 16]));
    expect(new Set(cases.map((c) => c.precision))).toEqual(new Set(['int8', 'int4', 'int4/2']));
    expect(new Set(cases.map((c) => c.append))).toEqual(new Set(['prompt', 'steps', 'prompt+steps']));
    expect(cases.some((c) => c.lengths.length > 1 && new Set(c.lengths).size > 1)).toBe(true);
    expect(cases.some((c) => c.lengths.includes(0))).toBe(true);
  });

  it('split each sequence into append chunks that add up to it', () => {
    expect(decodeAppendChunks(10, 2, 'prompt')).toEqual([10]);
    expect(decodeAppendChunks(3, 1, 'steps')).toEqual([1, 1, 1]);
    expect(decodeAppendChunks(10, 2, 'prompt+steps')).toEqual([5, 1, 1, 1, 2]);
    expect(decodeAppendChunks(1, 4, 'prompt+steps')).toEqual([1]);
    expect(decodeAppendChunks(0, 1, 'prompt')).toEqual([]);
  });
});

describe('checkDecodeConformanceCase', () => {
  const testCase = decodeConformanceCases().find((c) => c.name === 'empty-and-short-sequences');
  if (!testCase) throw new Error('missing case');

  it('passes float64 attention over the given K and V at 1e-6', async () => {
    const result = await checkDecodeConformanceCase({ run: exactRun, bound: () => 1e-6, lseBound: () => 1e-4 }, testCase);
    expect(result.relL2).toBeLessThan(1e-6);
    expect(result.lseError).toBeLessThan(1e-4);
  });

  it('fails an output off by more than the bound, an lse for a row without keys, and a modified input', async () => {
    const perturbed = async (input: DecodeConformanceInput) => {
      const { out, lse } = await exactRun(input);
      return { out: out.map((x) => x * 1.01), lse };
    };
    await expect(checkDecodeConformanceCase({ run: perturbed, bound: () => 0.005 }, testCase)).rejects.toThrow('exceeds the bound');
    const badLse = async (input: DecodeConformanceInput) => ({ ...(await exactRun(input)), lse: new Float32Array(3 * 8 * 4) });
    await expect(checkDecodeConformanceCase({ run: badLse, bound: () => 1 }, testCase)).rejects.toThrow('sees no key');
    const modifying = async (input: DecodeConformanceInput) => {
      const result = await exactRun(input);
      input.sequences[2].v[0] += 1;
      return result;
    };
    await expect(checkDecodeConformanceCase({ run: modifying, bound: () => 1 }, testCase)).rejects.toThrow('was modified');
  });
});

defineDecodeConformanceSuite({ name: 'float64 (the suite itself)', run: exactRun, bound: () => 1e-6, lseBound: () => 1e-4, test: { describe, it } });
