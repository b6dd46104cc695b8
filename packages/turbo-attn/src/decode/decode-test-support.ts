// What every decode test shares (the CPU, WebGPU and CUDA conformance runs): the cache options of each precision the
// conformance suite of @qattn/reference names, the float64 bounds all backends are held to, and a cache fed as the
// suite says. Test support only: nothing in the package's entry imports it.
import { type KVCache, type KVCacheOptions, createKVCache } from '@qattn/kv-cache';
import type { BackendName } from '@qattn/quant-core';
import type { DecodeCachePrecision, DecodeConformanceCase, DecodeConformanceInput } from '@qattn/reference';

/** The cache options of each precision the suite names. */
export const DECODE_PRECISION_OPTIONS: Record<DecodeCachePrecision, Partial<KVCacheOptions>> = {
  int8: { bits: 8 },
  int4: { bits: 4 },
  'int4/2': { bits: 4, lowBitFraction: { k: 0, v: 0.75 } },
};

// Worst case over the suite's cases × 4 seeds on the CPU, relative L2 / |lse error|: INT8 0.38% / 0.008, INT4 3.8% /
// 0.068 (5.6% with the flat softmax of `scale-explicit`), INT4/2 6.4% / 0.024, INT4 without sink tokens 10.7% / 0.19.
// The GPU backends are held to the same bars.
export const DECODE_BOUNDS: Record<DecodeCachePrecision, { out: number; lse: number }> = {
  int8: { out: 0.02, lse: 0.03 },
  int4: { out: 0.07, lse: 0.1 },
  'int4/2': { out: 0.12, lse: 0.1 },
};
export const DECODE_NO_SINK_BOUNDS = { out: 0.15, lse: 0.25 };

/** The float64 bounds of one conformance case. */
export function decodeBounds(testCase: DecodeConformanceCase): { out: number; lse: number } {
  return testCase.sinkTokens === 0 && testCase.precision !== 'int8' ? DECODE_NO_SINK_BOUNDS : DECODE_BOUNDS[testCase.precision];
}

/** A cache of `backend` fed as the conformance suite says: each sequence's chunks in order, appends awaited. */
export async function conformanceCache(
  { testCase, sequences }: DecodeConformanceInput,
  backend: BackendName,
  options: Partial<KVCacheOptions> = DECODE_PRECISION_OPTIONS[testCase.precision],
): Promise<KVCache> {
  const { lengths, kvHeads, headDim, pageSize, sinkTokens } = testCase;
  const cache = await createKVCache({ batch: lengths.length, kvHeads, headDim, backend, pageSize, sinkTokens, ...options });
  for (const [sequence, { k, v, chunks }] of sequences.entries()) {
    const length = lengths[sequence];
    let start = 0;
    for (const tokens of chunks) {
      // Tokens [start, start + tokens) of every kv head: [kvHeads, tokens, headDim].
      const slice = (x: Float32Array) => {
        const out = new Float32Array(kvHeads * tokens * headDim);
        for (let g = 0; g < kvHeads; g++) out.set(x.subarray((g * length + start) * headDim, (g * length + start + tokens) * headDim), g * tokens * headDim);
        return out;
      };
      await cache.append(slice(k), slice(v), { sequence });
      start += tokens;
    }
  }
  return cache;
}
