/// <reference types="@webgpu/types" />
// turboDecode over a WebGPU cache (lavapipe in CI): the decode conformance suite of @qattn/reference against float64,
// every case also against the CPU oracle on the very same codes (the cache's storage downloaded and decoded by
// decodePagedCpu with the kernel's split schedule), then the multi-pass, device-resident, growth and bad-input paths.
// Without an adapter the suite skips and says why (QATTN_EXPECT_WEBGPU=1 or CI=true make that a failure).
import { type KVCache, type KVCacheOptions, type WebGpuKVCache, createKVCache } from '@qattn/kv-cache';
import { sasThresholdForKeys } from '@qattn/quant-core';
import { type DecodeConformanceInput, attention, compare, defineDecodeConformanceSuite, generateInputs } from '@qattn/reference';
import { WebGpuTensor } from '@qattn/webgpu-runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu } from '../../webgpu/webgpu-test-env.js';
import { type DecodeParams, decodePagedCpu } from '../decode_paged_cpu.js';
import { DECODE_BOUNDS, conformanceCache, decodeBounds } from '../decode-test-support.js';
import { turboDecode } from '../index.js';
import { type WebGpuDecodeBackend, type WebGpuDecodeTuning, decodePlanCount, loadWebGpuDecodeBackend } from './index.js';
import { expectCode } from '../test-helpers.js';


/**
 * WebGPU vs decodePagedCpu on the same codes and split schedule: relative L2 of the output, largest |lse difference|.
 * The integer products are the same (exact); what differs is float rounding — q rotated and quantized in f32 (the
 * oracle: float64, which can move a q code across a rounding tie), s_q·s_k·σ·log2 e rounded twice instead of once,
 * sums of p split over invocations, the merge of the splits done at once in base 2 instead of pairwise in base e — and
 * the P codes those roundings move by one of 127. SAS runs in f16 on lavapipe, the oracle's arithmetic. Measured over
 * the suite (SAS on the default schedule, exp2 at one page per split): see the summary this file prints. The bound is
 * the CUDA decode's (2e-3): far below a wrong scale, a dropped page or a misplaced mask (> 1e-2).
 */
const ORACLE_AGREEMENT = { out: 2e-3, lse: 2e-3 } as const;

/**
 * With fewer storage bindings than the pools need, a split attends to its pages grouped by width (decode-page-passes.ts)
 * instead of in page order: the same keys in another chunk order, so SAS's sparse skip and P's codes see other running
 * maxima. Rounding-level; bound: 1e-2 relative L2 and 1e-2 in lse, with the float64 bars unchanged.
 */
const REORDERED_AGREEMENT = { out: 1e-2, lse: 1e-2 } as const;

const worst: Record<string, { out: number; lse: number }> = {};
function record(label: string, out: number, lse: number): void {
  const entry = (worst[label] ??= { out: 0, lse: 0 });
  entry.out = Math.max(entry.out, out);
  entry.lse = Math.max(entry.lse, lse);
}

/** A WebGPU cache fed as the conformance suite says (each sequence's chunks in order). */
async function webGpuCacheOf(input: DecodeConformanceInput, options?: Partial<KVCacheOptions>): Promise<WebGpuKVCache> {
  return (await conformanceCache(input, 'webgpu', options)) as WebGpuKVCache;
}

/** turboDecode's params for a cache: SAS with the 'auto' threshold (its default), or exact exp2. */
function paramsOf(cache: KVCache, heads: number, queryTokens: number, sas: boolean, scale?: number): DecodeParams {
  return {
    heads,
    queryTokens,
    scale: scale ?? 1 / Math.sqrt(cache.headDim),
    pagesPerSplit: 16,
    variant: { exponent: sas ? 'sas' : 'exp2', sasThreshold: sasThresholdForKeys(cache.length), skipSparseTiles: sas },
  };
}

/** Runs the kernels and the oracle (on the downloaded codes, with the kernels' split schedule); returns both and their distance. */
async function againstOracle(backend: WebGpuDecodeBackend, cache: WebGpuKVCache, q: Float32Array, params: DecodeParams, tuning?: WebGpuDecodeTuning) {
  const schedule = backend.schedule(cache, params, tuning);
  const state = await backend.decode(q, cache, params, tuning);
  const oracle = decodePagedCpu(q, await cache.downloadStorage(), { ...params, pagesPerSplit: schedule.pagesPerSplit });
  let lseDiff = 0;
  for (let i = 0; i < oracle.lse.length; i++) {
    expect(state.lse[i] === -Infinity, `row ${i}: lse ${state.lse[i]} vs oracle ${oracle.lse[i]}`).toBe(oracle.lse[i] === -Infinity);
    if (oracle.lse[i] !== -Infinity) lseDiff = Math.max(lseDiff, Math.abs(state.lse[i] - oracle.lse[i]));
  }
  // An all-zero oracle (no row sees a key) makes relL2 0/0: then the outputs must be exactly 0.
  const allZero = oracle.out.every((x) => x === 0);
  const outDiff = allZero ? (state.out.every((x) => x === 0) ? 0 : Infinity) : compare(state.out, oracle.out).relL2;
  return { state, oracle, outDiff, lseDiff, schedule };
}

async function expectOracleAgreement(
  label: string,
  backend: WebGpuDecodeBackend,
  cache: WebGpuKVCache,
  q: Float32Array,
  params: DecodeParams,
  tuning?: WebGpuDecodeTuning,
  bound: { out: number; lse: number } = ORACLE_AGREEMENT,
) {
  const result = await againstOracle(backend, cache, q, params, tuning);
  record(label, result.outDiff, result.lseDiff);
  expect(result.outDiff, `${label}: out vs oracle (${result.schedule.maxSplits} splits × ${result.schedule.pagesPerSplit} pages)`).toBeLessThanOrEqual(bound.out);
  expect(result.lseDiff, `${label}: lse vs oracle`).toBeLessThanOrEqual(bound.lse);
  return result;
}

const test = { describe: gpu ? describe : describe.skip, it };

afterAll(() => {
  if (Object.keys(worst).length === 0) return;
  const lines = Object.entries(worst).map(([label, { out, lse }]) => `  ${label}: relL2 ≤ ${out.toExponential(2)}, |Δlse| ≤ ${lse.toExponential(2)}`);
  console.info(`[turboDecode webgpu] agreement with the CPU oracle (worst case):\n${lines.join('\n')}`);
});

// The shared suite through turboDecode's own dispatch (SAS, the 'auto' threshold, the default schedule) against
// float64; each case also against the oracle, with SAS on that schedule and with exp2 at one page per split (the most
// splits: the combine merges many states).
defineDecodeConformanceSuite({
  name: 'turboDecode webgpu',
  async run(input) {
    const { testCase, q } = input;
    const cache = await webGpuCacheOf(input);
    try {
      const backend = await loadWebGpuDecodeBackend();
      await expectOracleAgreement('conformance, SAS', backend, cache, q, paramsOf(cache, testCase.heads, testCase.queryTokens, true, testCase.scale));
      await expectOracleAgreement('conformance, exp2, 1 page/split', backend, cache, q, paramsOf(cache, testCase.heads, testCase.queryTokens, false, testCase.scale), { pagesPerSplit: 1 });
      return await turboDecode(q, cache, { queryTokens: testCase.queryTokens, scale: testCase.scale, returnLse: true });
    } finally {
      cache.dispose();
    }
  },
  bound: (c) => decodeBounds(c).out,
  lseBound: (c) => decodeBounds(c).lse,
  test,
});

/** One LLM-like batch: q `[batch, heads, queryTokens, headDim]`, k/v `[batch, kvHeads, length, headDim]`. */
function llmBatch(batch: number, heads: number, kvHeads: number, length: number, headDim: number, queryTokens: number, seed: number) {
  return generateInputs({ batch, heads, kvHeads, seqQ: queryTokens, seqKV: length, headDim }, { kind: 'llm', seed });
}

describe.skipIf(!gpu)('turboDecode webgpu: passes, profiles, device-resident q, growth, bad input', () => {
  it('the paper\'s half-and-half 4/2 mix takes two page passes at 16 bindings; a limit of 11 cuts the INT4/2 V mix into width pairs', async () => {
    const backend = await loadWebGpuDecodeBackend();
    const [heads, kvHeads, headDim, length] = [8, 4, 64, 300];
    const data = llmBatch(1, heads, kvHeads, length, headDim, 1, 11);
    const exact = attention(data.q, data.k, data.v, { batch: 1, heads, kvHeads, seqQ: 1, seqKV: length, headDim }, { causal: true });
    for (const [label, options, tuning] of [
      ['half-and-half, 2 passes', { lowBitFraction: 0.5 }, { maxStorageBuffers: 16 }],
      ['INT4/2 V, width pairs', { lowBitFraction: { k: 0, v: 0.75 } }, { maxStorageBuffers: 11 }],
    ] as const) {
      const cache = (await createKVCache({ batch: 1, kvHeads, headDim, backend: 'webgpu', pageSize: 16, ...options })) as WebGpuKVCache;
      try {
        cache.append(data.k, data.v);
        for (const sas of [true, false]) {
          const params = paramsOf(cache, heads, 1, sas);
          expect(backend.schedule(cache, params, tuning).pagePasses.length).toBe(2);
          const { state, oracle } = await expectOracleAgreement(`${label}`, backend, cache, data.q, params, { ...tuning, pagesPerSplit: 4 }, REORDERED_AGREEMENT);
          // As close to float64 as the oracle, within the reordering's rounding.
          expect(compare(state.out, exact).relL2).toBeLessThanOrEqual(compare(oracle.out, exact).relL2 + REORDERED_AGREEMENT.out);
          expect(compare(state.out, exact).relL2).toBeLessThanOrEqual(options.lowBitFraction === 0.5 ? 0.2 : DECODE_BOUNDS['int4/2'].out);
        }
      } finally {
        cache.dispose();
      }
    }
  });

  it('the GPU profile (kernels sized for the row tile, 128 invocations) agrees with the oracle too', async () => {
    const backend = await loadWebGpuDecodeBackend();
    const [batch, heads, kvHeads, headDim, length, queryTokens] = [2, 8, 2, 64, 150, 3];
    const data = llmBatch(batch, heads, kvHeads, length, headDim, queryTokens, 12);
    const cache = (await createKVCache({ batch, kvHeads, headDim, backend: 'webgpu', pageSize: 16 })) as WebGpuKVCache;
    try {
      cache.append(data.k, data.v);
      const tuning = { profile: 'hardware', pagesPerSplit: 2 } as const;
      const schedule = backend.schedule(cache, paramsOf(cache, heads, queryTokens, true), tuning);
      expect(schedule.tiles).toMatchObject({ rowCapacity: 12, rowsPerTile: 12, workgroupSize: 128, threadsPerRow: 8 });
      for (const sas of [true, false]) await expectOracleAgreement('GPU profile', backend, cache, data.q, paramsOf(cache, heads, queryTokens, sas), tuning);
    } finally {
      cache.dispose();
    }
  });

  it('K rows that do not start on a word (hd 36: 144-bit INT4 and 72-bit INT2 rows) agree with the oracle in both profiles', async () => {
    const backend = await loadWebGpuDecodeBackend();
    const [heads, kvHeads, headDim, length] = [4, 2, 36, 5 + 16 * 6 + 3];
    const data = llmBatch(1, heads, kvHeads, length, headDim, 1, 15);
    const exact = attention(data.q, data.k, data.v, { batch: 1, heads, kvHeads, seqQ: 1, seqKV: length, headDim }, { causal: true });
    const cache = (await createKVCache({ batch: 1, kvHeads, headDim, backend: 'webgpu', pageSize: 16, sinkTokens: 5, lowBitFraction: 0.5 })) as WebGpuKVCache;
    try {
      cache.append(data.k, data.v);
      for (const profile of ['software', 'hardware'] as const) {
        const params = paramsOf(cache, heads, 1, true);
        const tuning = { profile, pagesPerSplit: 2 };
        const bound = backend.schedule(cache, params, tuning).pagePasses.length > 1 ? REORDERED_AGREEMENT : ORACLE_AGREEMENT;
        const { state, oracle } = await expectOracleAgreement(`unaligned K rows, ${profile}`, backend, cache, data.q, params, tuning, bound);
        expect(compare(state.out, exact).relL2).toBeLessThanOrEqual(compare(oracle.out, exact).relL2 + bound.out);
      }
    } finally {
      cache.dispose();
    }
  });

  it('headDim 48 (no rotation), 7 sink tokens, 32-token pages, three sequences: agrees with the oracle and float64', async () => {
    const backend = await loadWebGpuDecodeBackend();
    const [heads, kvHeads, headDim, queryTokens] = [6, 3, 48, 2];
    const lengths = [7 + 32 * 3 + 5, 9, 7 + 32];
    const cache = (await createKVCache({ batch: 3, kvHeads, headDim, backend: 'webgpu', pageSize: 32, sinkTokens: 7 })) as WebGpuKVCache;
    try {
      expect(cache.config.hadamard).toBe(false);
      const q = new Float32Array(3 * heads * queryTokens * headDim);
      const exact = new Float64Array(q.length);
      lengths.forEach((length, sequence) => {
        const shape = { batch: 1, heads, kvHeads, seqQ: queryTokens, seqKV: length, headDim };
        const data = generateInputs(shape, { kind: 'llm', seed: 20 + sequence });
        cache.append(data.k, data.v, { sequence });
        q.set(data.q, sequence * data.q.length);
        exact.set(attention(data.q, data.k, data.v, shape, { causal: true }), sequence * data.q.length);
      });
      for (const sas of [true, false]) {
        const { state } = await expectOracleAgreement('hd 48, 7 sinks', backend, cache, q, paramsOf(cache, heads, queryTokens, sas), { pagesPerSplit: 1 });
        expect(compare(state.out, exact).relL2).toBeLessThanOrEqual(DECODE_BOUNDS.int4.out);
      }
    } finally {
      cache.dispose();
    }
  });

  it('decodes a growing cache: each step appends a token (pages fill, pools and page tables grow) and decodes', async () => {
    const backend = await loadWebGpuDecodeBackend();
    const [batch, heads, kvHeads, headDim, prompt, steps] = [2, 4, 2, 64, 27, 24];
    const data = llmBatch(batch, heads, kvHeads, prompt + steps, headDim, 1, 13);
    const cache = (await createKVCache({ batch, kvHeads, headDim, backend: 'webgpu', pageSize: 16 })) as WebGpuKVCache;
    const tokens = (x: Float32Array, from: number, to: number) => {
      const out = new Float32Array(batch * kvHeads * (to - from) * headDim);
      for (let group = 0; group < batch * kvHeads; group++) {
        out.set(x.subarray((group * (prompt + steps) + from) * headDim, (group * (prompt + steps) + to) * headDim), group * (to - from) * headDim);
      }
      return out;
    };
    try {
      cache.append(tokens(data.k, 0, prompt), tokens(data.v, 0, prompt));
      for (let step = 0; step < steps; step++) {
        cache.append(tokens(data.k, prompt + step, prompt + step + 1), tokens(data.v, prompt + step, prompt + step + 1));
        if (step % 8 !== 7) continue;
        await expectOracleAgreement('growing cache', backend, cache, data.q, paramsOf(cache, heads, 1, true), { pagesPerSplit: 1 });
      }
    } finally {
      cache.dispose();
    }
  });

  it('decodeDevice gives the typed-array result on device tensors; plans are reused; time() returns samples', async () => {
    if (!gpu) throw new Error('unreachable: suite skipped without a device');
    const backend = await loadWebGpuDecodeBackend();
    const [batch, heads, kvHeads, headDim, length, queryTokens] = [2, 4, 2, 64, 300, 2];
    const data = llmBatch(batch, heads, kvHeads, length, headDim, queryTokens, 14);
    const cache = (await createKVCache({ batch, kvHeads, headDim, backend: 'webgpu', pageSize: 16 })) as WebGpuKVCache;
    try {
      cache.append(data.k, data.v);
      const params = paramsOf(cache, heads, queryTokens, true);
      const host = await backend.decode(data.q, cache, params);
      const plans = decodePlanCount(gpu.device);
      const q = WebGpuTensor.fromArray(gpu, data.q, [batch, heads, queryTokens, headDim]);
      const { out, lse } = await backend.decodeDevice(q, cache, params);
      expect(Array.from(await out.toArray())).toEqual(Array.from(host.out));
      expect(Array.from(await lse.toArray())).toEqual(Array.from(host.lse));
      expect(decodePlanCount(gpu.device)).toBe(plans);
      for (const tensor of [q, out, lse]) tensor.dispose();

      const wrong = WebGpuTensor.fromArray(gpu, data.q.subarray(0, data.q.length / 2), [batch, heads, 1, headDim]);
      await expectCode(backend.decodeDevice(wrong, cache, params), 'ERR_QATTN_SHAPE', 'q has');
      wrong.dispose();
      await expectCode(backend.decodeDevice(data.q as never, cache, params), 'ERR_QATTN_DTYPE', 'WebGpuTensor');

      const samples = await backend.time(data.q, cache, params, { warmup: 1, repeats: 2 });
      expect(samples).toHaveLength(2);
      for (const ms of samples) expect(ms).toBeGreaterThan(0);
    } finally {
      cache.dispose();
    }
  });

  it('rejects q with the wrong heads (ERR_QATTN_SHAPE), a disposed cache, and a cache without device storage', async () => {
    const headDim = 64;
    const cache = await createKVCache({ batch: 2, kvHeads: 2, headDim, backend: 'webgpu', pageSize: 16 });
    cache.append(Float32Array.from({ length: 2 * 2 * 40 * headDim }, (_, i) => Math.sin(i)), Float32Array.from({ length: 2 * 2 * 40 * headDim }, (_, i) => Math.cos(i)));
    // 3 heads: not a multiple of the 2 kv heads; a length that is no whole number of heads.
    await expectCode(turboDecode(new Float32Array(2 * 3 * headDim), cache), 'ERR_QATTN_SHAPE', 'heads');
    await expectCode(turboDecode(new Float32Array(2 * 4 * headDim + 1), cache), 'ERR_QATTN_SHAPE', 'q has');
    await expectCode(turboDecode(new Float32Array(2 * 4 * headDim).fill(Number.NaN), cache), 'ERR_QATTN_NONFINITE');
    const ok = await turboDecode(Float32Array.from({ length: 2 * 4 * headDim }, (_, i) => Math.cos(i)), cache);
    expect(ok.length).toBe(2 * 4 * headDim);
    expect(ok.every(Number.isFinite)).toBe(true);
    cache.dispose();
    await expectCode(turboDecode(new Float32Array(2 * 4 * headDim), cache), 'ERR_QATTN_DISPOSED');
    const fake = { backend: 'webgpu', disposed: false, batch: 2, kvHeads: 2, headDim, length: 1, storage: () => ({}) } as unknown as KVCache;
    await expectCode(turboDecode(new Float32Array(2 * 4 * headDim), fake), 'ERR_QATTN_BACKEND_UNAVAILABLE', 'storageOnDevice');
  });
});
