import { defineConformanceSuite } from '@qattn/reference';
import { describe, it } from 'vitest';
import { turboAttention } from './index.js';

// The shared conformance suite of @qattn/reference against the cpu backend: every case, no skips. Bounds are
// TurboAttention's accuracy bars (issue 2): U[0,1) ≤ 0.2%, sharp LLM-like (q × 3) ≤ 4.5%, LLM-like ≤ 3.0%.
defineConformanceSuite({
  name: 'turbo-attn cpu',
  run: (q, k, v, shape, options) => turboAttention(q, k, v, shape, { ...options, backend: 'cpu' }),
  bound: (testCase) => (testCase.data === 'uniform' ? 0.002 : testCase.sharpness > 1 ? 0.045 : 0.03),
  test: { describe, it },
});
