import { defineDecodeConformanceSuite } from '@qattn/reference';
import { describe, it } from 'vitest';
import { conformanceCache, decodeBounds } from './decode-test-support.js';
import { turboDecode } from './index.js';

defineDecodeConformanceSuite({
  name: 'turboDecode cpu',
  async run({ testCase, q, sequences }) {
    const { queryTokens, scale } = testCase;
    const cache = await conformanceCache({ testCase, q, sequences }, 'cpu');
    const state = await turboDecode(q, cache, { queryTokens, scale, returnLse: true });
    cache.dispose();
    return state;
  },
  bound: (testCase) => decodeBounds(testCase).out,
  lseBound: (testCase) => decodeBounds(testCase).lse,
  test: { describe, it },
});
