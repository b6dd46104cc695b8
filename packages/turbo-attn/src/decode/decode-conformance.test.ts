import { type KVCacheOptions, createKVCache } from '@qattn/kv-cache';
import { type DecodeCachePrecision, type DecodeConformanceCase, defineDecodeConformanceSuite } from '@qattn/reference';
import { describe, it } from 'vitest';
import { turboDecode } from './index.js';

/** The cache options of each precision the suite names. */
const PRECISION: Record<DecodeCachePrecision, Partial<KVCacheOptions>> = {
  int8: { bits: 8 },
  int4: { bits: 4 },
  'int4/2': { bits: 4, lowBitFraction: { k: 0, v: 0.75 } },
};

// Worst case over the suite's cases × 4 seeds, relative L2 / |lse error|: INT8 0.38% / 0.008, INT4 3.8% / 0.068
// (5.6% with the flat softmax of `scale-explicit`), INT4/2 6.4% / 0.024, INT4 without sink tokens 10.7% / 0.19.
const BOUNDS: Record<DecodeCachePrecision, { out: number; lse: number }> = {
  int8: { out: 0.02, lse: 0.03 },
  int4: { out: 0.07, lse: 0.1 },
  'int4/2': { out: 0.12, lse: 0.1 },
};
const NO_SINK_BOUNDS = { out: 0.15, lse: 0.25 };
const bounds = (testCase: DecodeConformanceCase) => (testCase.sinkTokens === 0 && testCase.precision !== 'int8' ? NO_SINK_BOUNDS : BOUNDS[testCase.precision]);

defineDecodeConformanceSuite({
  name: 'turboDecode cpu',
  async run({ testCase, q, sequences }) {
    const { lengths, kvHeads, headDim, pageSize, sinkTokens, queryTokens, scale } = testCase;
    const cache = await createKVCache({ batch: lengths.length, kvHeads, headDim, backend: 'cpu', pageSize, sinkTokens, ...PRECISION[testCase.precision] });
    sequences.forEach(({ k, v, chunks }, sequence) => {
      const length = lengths[sequence];
      let start = 0;
      for (const tokens of chunks) {
        // Tokens [start, start + tokens) of every kv head: [kvHeads, tokens, headDim].
        const slice = (x: Float32Array) => {
          const out = new Float32Array(kvHeads * tokens * headDim);
          for (let g = 0; g < kvHeads; g++) out.set(x.subarray((g * length + start) * headDim, (g * length + start + tokens) * headDim), g * tokens * headDim);
          return out;
        };
        cache.append(slice(k), slice(v), { sequence });
        start += tokens;
      }
    });
    const state = await turboDecode(q, cache, { queryTokens, scale, returnLse: true });
    cache.dispose();
    return state;
  },
  bound: (testCase) => bounds(testCase).out,
  lseBound: (testCase) => bounds(testCase).lse,
  test: { describe, it },
});
