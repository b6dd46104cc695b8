import { type QattnErrorCode, isQattnError } from '@qattn/quant-core';
import { generateInputs } from '@qattn/reference';
import { expect } from 'vitest';

/** Asserts that `fn` throws a QattnError of `code` whose message contains `mentions`. */
export function expectCode(fn: () => unknown, code: QattnErrorCode, mentions?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isQattnError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  if (mentions) expect((caught as Error).message).toContain(mentions);
}

/** LLM-like k and v `[batch, kvHeads, tokens, headDim]` (outlier K channels, a sink at token 0, Student-t V). */
export function llmKV(batch: number, kvHeads: number, tokens: number, headDim: number, seed = 1): { k: Float32Array; v: Float32Array } {
  const { k, v } = generateInputs({ batch, heads: kvHeads, kvHeads, seqQ: 1, seqKV: tokens, headDim }, { kind: 'llm', seed });
  return { k, v };
}

/** Tokens [from, to) of x `[groups, tokens, headDim]`, as `[groups, to − from, headDim]`. */
export function sliceTokens(x: Float32Array, groups: number, tokens: number, headDim: number, from: number, to: number): Float32Array {
  const out = new Float32Array(groups * (to - from) * headDim);
  for (let g = 0; g < groups; g++) out.set(x.subarray((g * tokens + from) * headDim, (g * tokens + to) * headDim), g * (to - from) * headDim);
  return out;
}
