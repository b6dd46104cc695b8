import { type KVCache, type KVCacheOptions, createKVCache } from '@qattn/kv-cache';
import { attention, compare, generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { turboDecode } from './index.js';
import { expectCode } from './test-helpers.js';

/** One LLM-like sequence of `length` tokens (the last `queryTokens` are the new ones) and its float64 attention. */
function llmSequence(heads: number, kvHeads: number, length: number, headDim: number, queryTokens: number, seed: number) {
  const shape = { batch: 1, heads, kvHeads, seqQ: queryTokens, seqKV: length, headDim };
  const { q, k, v } = generateInputs(shape, { kind: 'llm', seed });
  return { shape, q, k, v, exact: attention(q, k, v, shape, { causal: true }) };
}

async function cacheOf(k: Float32Array, v: Float32Array, kvHeads: number, headDim: number, options: Partial<KVCacheOptions> = {}): Promise<KVCache> {
  const cache = await createKVCache({ batch: 1, kvHeads, headDim, backend: 'cpu', ...options });
  cache.append(k, v);
  return cache;
}

describe('turboDecode accuracy after a 2K-token prompt (LLM-like data, hd 128, 32 query / 8 kv heads)', () => {
  const data = llmSequence(32, 8, 2048, 128, 1, 1);

  // Measured (seeds 1, 2; 1 and 4 query tokens): INT8 pages 0.5–0.8%, INT4 3.1–3.4%, INT4 with 3/4 of the V heads at
  // INT2 8.9–9.8%, the paper's half-and-half mix 12.0–14.2%: the targets are 2%, 4% and 12%. The cache alone
  // (float64 attention over its dequantized K and V) accounts for nearly all of it; @qattn/kv-cache's README has the
  // table over 2K–16K.
  it.each([
    ['INT8', { bits: 8 }, 0.02],
    ['INT4', { bits: 4 }, 0.04],
    ['INT4, 3/4 of the V heads INT2', { lowBitFraction: { k: 0, v: 0.75 } }, 0.12],
    ['INT4/INT2 half and half (the paper)', { lowBitFraction: 0.5 }, 0.16],
  ] as const)('%s cache: within %#', async (_name, options, bound) => {
    const cache = await cacheOf(data.k, data.v, 8, 128, options);
    const out = await turboDecode(data.q, cache);
    expect(compare(out, data.exact).relL2).toBeLessThanOrEqual(bound);
  });

  it('adds little to the cache error: within 1% of float64 attention over the dequantized cache', async () => {
    for (const bits of [8, 4] as const) {
      const cache = await cacheOf(data.k, data.v, 8, 128, { bits });
      const read = cache.read();
      const overCache = attention(data.q, read.k, read.v, data.shape, { causal: true });
      // Measured 0.35–0.7% (INT8 q and P, SAS).
      expect(compare(await turboDecode(data.q, cache), overCache).relL2).toBeLessThanOrEqual(0.01);
    }
  });

  it('SAS costs nothing measurable against exact exp2', async () => {
    const cache = await cacheOf(data.k, data.v, 8, 128);
    const sas = compare(await turboDecode(data.q, cache), data.exact).relL2;
    const exp2 = compare(await turboDecode(data.q, cache, { sas: false }), data.exact).relL2;
    expect(Math.abs(sas - exp2)).toBeLessThanOrEqual(0.002);
  });
});

describe('turboDecode split-KV and states', () => {
  it('gives the same output for any split of the keys (merged partial states)', async () => {
    const data = llmSequence(8, 2, 700, 64, 3, 5);
    const cache = await cacheOf(data.k, data.v, 2, 64, { pageSize: 32 });
    const decode = (pagesPerSplit: number, sas: boolean) => turboDecode(data.q, cache, { queryTokens: 3, pagesPerSplit, sas, returnLse: true });
    const whole = await decode(1000, false);
    for (const pagesPerSplit of [1, 3, 7]) {
      // Exact exp2: the merge is exact, only float32 rounding differs.
      const split = await decode(pagesPerSplit, false);
      expect(compare(split.out, whole.out).relL2).toBeLessThan(1e-5);
      for (let r = 0; r < whole.lse.length; r++) expect(split.lse[r]).toBeCloseTo(whole.lse[r], 4);
      // SAS approximates each exponent against its split's running max, so splits move the output by SAS's own error
      // (measured 0.1–0.5% apart), not its accuracy (3.44% against float64 either way).
      const sasSplit = await decode(pagesPerSplit, true);
      expect(compare(sasSplit.out, whole.out).relL2).toBeLessThan(0.01);
      expect(Math.abs(compare(sasSplit.out, data.exact).relL2 - compare(whole.out, data.exact).relL2)).toBeLessThan(0.001);
    }
  });

  it('is deterministic and does not modify q', async () => {
    const data = llmSequence(4, 2, 150, 64, 2, 6);
    const cache = await cacheOf(data.k, data.v, 2, 64);
    const copy = data.q.slice();
    const first = await turboDecode(data.q, cache, { queryTokens: 2 });
    expect(await turboDecode(data.q, cache, { queryTokens: 2 })).toEqual(first);
    expect(data.q).toEqual(copy);
  });

  it('returns the log-sum-exp of each row against float64, and zero rows with −Infinity for an empty sequence', async () => {
    const data = llmSequence(4, 2, 300, 64, 1, 7);
    const cache = await createKVCache({ backend: 'cpu', batch: 2, kvHeads: 2, headDim: 64, bits: 8 });
    cache.append(data.k, data.v, { sequence: 1 });
    const q = new Float32Array(2 * data.q.length);
    q.set(data.q, 0);
    q.set(data.q, data.q.length);
    const { out, lse } = await turboDecode(q, cache, { returnLse: true });
    expect(out.subarray(0, data.q.length).every((x) => x === 0)).toBe(true);
    expect(Array.from(lse.subarray(0, 4))).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
    expect(compare(out.subarray(data.q.length), data.exact).relL2).toBeLessThan(0.02);
    for (let h = 0; h < 4; h++) {
      let max = -Infinity;
      const logits: number[] = [];
      for (let j = 0; j < 300; j++) {
        let dot = 0;
        for (let d = 0; d < 64; d++) dot += data.q[h * 64 + d] * data.k[(Math.floor(h / 2) * 300 + j) * 64 + d];
        logits.push(dot / 8);
        max = Math.max(max, dot / 8);
      }
      const exact = max + Math.log(logits.reduce((sum, x) => sum + Math.exp(x - max), 0));
      expect(Math.abs(lse[4 + h] - exact)).toBeLessThan(0.02);
    }
  });
});

describe('turboDecode bad inputs', () => {
  const setup = async () => {
    const cache = await createKVCache({ backend: 'cpu', batch: 2, kvHeads: 2, headDim: 16 });
    cache.append(new Float32Array(2 * 2 * 10 * 16).fill(0.5), new Float32Array(2 * 2 * 10 * 16).fill(0.25));
    return cache;
  };

  it('rejects q whose heads do not match the cache with ERR_QATTN_SHAPE', async () => {
    const cache = await setup();
    // 3 heads: not a multiple of the 2 kv heads.
    await expectCode(turboDecode(new Float32Array(2 * 3 * 16), cache), 'ERR_QATTN_SHAPE', 'heads');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16 + 1), cache), 'ERR_QATTN_SHAPE', 'q has');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), cache, { heads: 2 }), 'ERR_QATTN_SHAPE', 'heads = 2');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), cache, { queryTokens: 3 }), 'ERR_QATTN_SHAPE');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), cache, { heads: 1.5 }), 'ERR_QATTN_SHAPE', 'heads');
  });

  it('rejects bad dtypes, values and options', async () => {
    const cache = await setup();
    await expectCode(turboDecode(new Float64Array(2 * 4 * 16) as never, cache), 'ERR_QATTN_DTYPE', 'q');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16).fill(Number.NaN), cache), 'ERR_QATTN_NONFINITE', 'q[0]');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), cache, { queryTokens: 17 }), 'ERR_QATTN_OPTION', 'queryTokens');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), cache, { causal: true } as never), 'ERR_QATTN_OPTION', 'causal');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), cache, { scale: -1 }), 'ERR_QATTN_OPTION', 'scale');
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), {} as never), 'ERR_QATTN_DTYPE', 'KVCache');
  });

  it('rejects a disposed cache and a device cache that is not one of kv-cache', async () => {
    const cache = await setup();
    cache.dispose();
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), cache), 'ERR_QATTN_DISPOSED');
    // A cache that claims cuda but is not kv-cache's CudaKVCache: no device here, or no deviceStorage() on a GPU host.
    const onCuda = { backend: 'cuda', disposed: false, batch: 2, kvHeads: 2, headDim: 16, storage: () => ({}) } as unknown as KVCache;
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), onCuda), 'ERR_QATTN_BACKEND_UNAVAILABLE');
    // Likewise a cache that claims webgpu but has no device storage (not kv-cache's WebGpuKVCache).
    const onWebGpu = { ...onCuda, backend: 'webgpu' } as unknown as KVCache;
    await expectCode(turboDecode(new Float32Array(2 * 4 * 16), onWebGpu), 'ERR_QATTN_BACKEND_UNAVAILABLE', 'storageOnDevice');
  });
});
