import { type ConformanceCase, defineConformanceSuite } from '@qattn/reference';
import { describe, it } from 'vitest';
import { flashInt8Attention } from '../index.js';
import type { FlashInt8Options } from '../options.js';

/**
 * The accuracy bars (relative L2 against float64), per P·V precision: LLM-like data, its sharp-softmax case
 * (q × 3), and U[0, 1) data.
 */
const BARS = {
  int8: { llm: 0.02, sharp: 0.03, uniform: 0.002 },
  fp16: { llm: 0.015, sharp: 0.025, uniform: 0.002 },
} as const;

function bound(pv: keyof typeof BARS, testCase: ConformanceCase): number {
  const bars = BARS[pv];
  if (testCase.data === 'uniform') return bars.uniform;
  return testCase.sharpness > 1 ? bars.sharp : bars.llm;
}

for (const pv of ['int8', 'fp16'] as const) {
  defineConformanceSuite({
    name: `flash-int8 cpu (pv: '${pv}', default levers)`,
    run: (q, k, v, shape, options) => flashInt8Attention(q, k, v, shape, { ...options, backend: 'cpu', pv } as FlashInt8Options),
    bound: (testCase) => bound(pv, testCase),
    test: { describe, it },
  });
}
