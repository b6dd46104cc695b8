// turboDecode's CUDA tests (split-KV decode over the paged cache, native/decode_paged_splitkv.cu), written against
// {describe, it} like cuda.suite.ts, which calls this. Each cache is built on the CPU (the oracle's storage), uploaded
// to the device in the same layout and wrapped as a cuda cache, so the kernel and decodePagedCpu read the very same
// codes. Without a GPU the device tests skip and say why (QATTN_EXPECT_CUDA=1 makes that a failure).
import assert from 'node:assert/strict';
import { cudaAvailability, getCudaRuntime } from '@qattn/cuda-runtime';
import { CudaKVCache, type KVCache, createKVCache } from '@qattn/kv-cache';
import { isQattnError } from '@qattn/quant-core';
import { type DecodeConformanceInput, type SuiteApi, attention, compare, defineDecodeConformanceSuite, generateInputs } from '@qattn/reference';
// The upload of a CPU cache's storage is kv-cache's test/transfer helper (src/cuda/device-storage.ts).
import { deviceBuffersOf, uploadKVCacheStorage } from '@qattn/kv-cache';
import { loadTurboAttnAddon } from '../src/cuda/addon.js';
import { type CudaDecodeBackend, type CudaDecodeTuning, type DecodePath, decodeMmaSupported, loadCudaDecodeBackend, packDecodeArgs } from '../src/decode/cuda/index.js';
import { decodePagedCpu, type DecodeParams } from '../src/decode/decode_paged_cpu.js';
import { conformanceCache, decodeBounds } from '../src/decode/decode-test-support.js';
import { turboDecode } from '../src/decode/index.js';


/**
 * CUDA vs decodePagedCpu on the same codes and the same split schedule: relative L2 of the output, and the largest
 * |lse difference|. Same integer products (exact); they differ by the float32 Hadamard rotation of q (the oracle
 * rotates in float64, which can move a q code across a rounding tie), float32 vs float64 sums of p and of δ, and the P
 * codes those roundings move by one of 127 — the same sources as the attention kernel's 2e−3 bound (cuda.suite.ts),
 * far below a wrong scale, a dropped page or a misplaced mask (> 1e−2). Measured on an H200 at the bench-shape test
 * (2K+37 keys, an outlier K channel): 2.8e-4 to 3.3e-4 on 4-bit pages, |lse| ≤ 5e-5 — 3e-3, the prefill kernel's
 * bound (cuda.suite.ts). INT8 pages (per-token K and V scales) measured 2.1e-3 with one query token and 5.0e-3 with
 * four: held to {@link DECODE_CUDA_VS_ORACLE_INT8} until that gap is explained (issue 9's note).
 */
export const DECODE_CUDA_VS_ORACLE = { out: 3e-3, lse: 2e-3 } as const;
export const DECODE_CUDA_VS_ORACLE_INT8 = { out: 7e-3, lse: 2e-3 } as const;
const oracleBound = (bits: number) => (bits === 8 ? DECODE_CUDA_VS_ORACLE_INT8 : DECODE_CUDA_VS_ORACLE);

/** A test-only cuda cache: a CPU cache's storage uploaded as is (the oracle keeps reading the CPU copy). */
interface UploadedCache {
  cache: KVCache & { deviceStorage(): Awaited<ReturnType<typeof uploadKVCacheStorage>> };
  cpu: KVCache;
  dispose(): void;
}

async function uploadCache(cpu: KVCache): Promise<UploadedCache> {
  const device = await uploadKVCacheStorage(getCudaRuntime(), cpu.storage());
  const unsupported = (): never => {
    throw new Error('test-only uploaded cache: read it through turboDecode');
  };
  const cache = {
    backend: 'cuda' as const,
    config: cpu.config,
    batch: cpu.batch,
    kvHeads: cpu.kvHeads,
    headDim: cpu.headDim,
    lengths: cpu.lengths,
    length: cpu.length,
    disposed: false,
    append: unsupported,
    read: unsupported,
    readAsync: unsupported,
    memory: unsupported,
    clear: unsupported,
    storage: () => cpu.storage(),
    deviceStorage: () => device,
    dispose: () => {},
  };
  return { cache, cpu, dispose: () => deviceBuffersOf(device).forEach((t) => t.dispose()) };
}

/** A CPU cache fed as the conformance suite says (each sequence's chunks in order). */
const cpuCacheOf = (input: DecodeConformanceInput): Promise<KVCache> => conformanceCache(input, 'cpu');

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === -Infinity && b[i] === -Infinity) continue;
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return worst;
}

/** Tokens [from, to) of every (sequence, kv head) group of a `[groups, tokens, headDim]` array. */
function sliceTokens(data: Float32Array, groups: number, tokens: number, headDim: number, from: number, to: number): Float32Array {
  const out = new Float32Array(groups * (to - from) * headDim);
  for (let g = 0; g < groups; g++) out.set(data.subarray((g * tokens + from) * headDim, (g * tokens + to) * headDim), g * (to - from) * headDim);
  return out;
}

/** The split kernels that serve a cache's layout: the tensor-core one where it does, and always the SIMT one. */
function pathsFor(cache: KVCache): DecodePath[] {
  const { headDim, pageSize, sinkTokens } = cache.config;
  return decodeMmaSupported(headDim, pageSize, sinkTokens) ? ['mma', 'simt'] : ['simt'];
}

/** Runs the kernel and the oracle with the kernel's split schedule and asserts they agree. */
async function decodeAndCompare(backend: CudaDecodeBackend, uploaded: UploadedCache, q: Float32Array, params: DecodeParams, tuning?: CudaDecodeTuning) {
  const schedule = backend.schedule(uploaded.cache, params, tuning);
  const state = await backend.decode(q, uploaded.cache, params, tuning);
  const oracle = decodePagedCpu(q, uploaded.cpu.storage(), { ...params, pagesPerSplit: schedule.pagesPerSplit });
  const outDiff = compare(state.out, oracle.out).relL2;
  const lseDiff = maxAbsDiff(state.lse, oracle.lse);
  for (let i = 0; i < state.lse.length; i++) {
    assert.equal(state.lse[i] === -Infinity, oracle.lse[i] === -Infinity, `row ${i}: lse ${state.lse[i]} vs oracle ${oracle.lse[i]}`);
  }
  // An all-zero oracle (no row sees a key) makes relL2 0/0: then the outputs must match exactly.
  const allZero = oracle.out.every((x) => x === 0);
  const bound = oracleBound(uploaded.cpu.config.bits);
  assert.ok(
    allZero ? state.out.every((x) => x === 0) : outDiff <= bound.out,
    `cuda (${schedule.path}) vs oracle out relL2 ${outDiff} > ${bound.out} (pagesPerSplit ${schedule.pagesPerSplit}, ${schedule.maxSplits} splits)`,
  );
  assert.ok(lseDiff <= bound.lse, `cuda (${schedule.path}) vs oracle |lse| ${lseDiff} > ${bound.lse}`);
  return { state, oracle, outDiff, lseDiff, schedule };
}

function params(heads: number, queryTokens: number, headDim: number, sas = true, scale?: number): DecodeParams {
  return {
    heads,
    queryTokens,
    scale: scale ?? 1 / Math.sqrt(headDim),
    pagesPerSplit: 16,
    variant: { exponent: sas ? 'sas' : 'exp2', sasThreshold: 14, skipSparseTiles: sas },
  };
}

export function defineTurboDecodeCudaSuite(test: SuiteApi): void {
  const { describe, it } = test;

  describe('turboDecode cuda addon (no device needed)', () => {
    let addon: ReturnType<typeof loadTurboAttnAddon> | string;
    try {
      addon = loadTurboAttnAddon();
    } catch (err) {
      addon = (err as Error).message;
    }
    if (typeof addon === 'string') {
      it(`skipped: the addon is not built here (${addon})`, () => {});
      return;
    }
    const built = addon;
    it('exports the decode launcher and a DecodeArgs layout that packDecodeArgs fills completely', () => {
      assert.equal(typeof built.decodeLauncher, 'bigint');
      const { fields, bytes } = built.decodeArgsLayout;
      const values = Object.fromEntries(Object.entries(fields).map(([name, [, kind]], i) => [name, kind === 'p' ? BigInt(0x1000 * (i + 1)) : kind === 'i' ? i : 0.5]));
      const packed = packDecodeArgs(built.decodeArgsLayout, values);
      assert.equal(packed.byteLength, bytes);
      const view = new DataView(packed.buffer);
      for (const [name, [offset, kind]] of Object.entries(fields)) {
        const read = kind === 'p' ? view.getBigUint64(offset, true) : kind === 'i' ? view.getInt32(offset, true) : view.getFloat32(offset, true);
        assert.equal(read, values[name], name);
      }
      assert.throws(() => packDecodeArgs(built.decodeArgsLayout, { ...values, bogus: 1 }), /bogus/);
      const { q: _q, ...missing } = values;
      assert.throws(() => packDecodeArgs(built.decodeArgsLayout, missing), /'q' is missing/);
    });
  });

  const availability = cudaAvailability();
  if (!availability.available && process.env.QATTN_EXPECT_CUDA !== '1') {
    console.warn(`turboDecode cuda: skipping GPU tests, CUDA unavailable here (${availability.reason}); set QATTN_EXPECT_CUDA=1 to make this a failure`);
    describe('turboDecode cuda (skipped: no CUDA device)', () => {
      it('a cuda cache without a device reports ERR_QATTN_BACKEND_UNAVAILABLE', async () => {
        const fake = { ...(await createKVCache({ batch: 1, kvHeads: 1, headDim: 64, backend: 'cpu' })), backend: 'cuda' } as unknown as KVCache;
        await assert.rejects(loadCudaDecodeBackend().then((b) => b.decode(new Float32Array(64), fake, params(1, 1, 64))), (err: unknown) => isQattnError(err));
      });
    });
    return;
  }

  // The shared conformance suite through turboDecode's own dispatch, each case also held to the oracle on both split
  // kernels where both serve the layout (default schedule, and one page per split: the most splits, so the combine
  // kernel merges many states).
  for (const [label, sas] of [['sas', true], ['exp2', false]] as const) {
    defineDecodeConformanceSuite({
      name: `turboDecode cuda (${label})`,
      async run(input) {
        const cpu = await cpuCacheOf(input);
        const uploaded = await uploadCache(cpu);
        try {
          const { testCase, q } = input;
          const backend = await loadCudaDecodeBackend();
          const p = params(testCase.heads, testCase.queryTokens, testCase.headDim, sas, testCase.scale);
          for (const path of pathsFor(cpu)) {
            await decodeAndCompare(backend, uploaded, q, p, { path });
            await decodeAndCompare(backend, uploaded, q, p, { path, pagesPerSplit: 1 });
          }
          return await turboDecode(q, uploaded.cache, { queryTokens: testCase.queryTokens, scale: testCase.scale, sas, returnLse: true });
        } finally {
          uploaded.dispose();
          cpu.dispose();
        }
      },
      bound: (c) => decodeBounds(c).out,
      lseBound: (c) => decodeBounds(c).lse,
      test,
    });
  }

  describe('turboDecode cuda: bench shape, device-resident step, bad input, buffers', () => {
    it('B2 H32/8 D128 at 2K+37 keys, 4-bit and INT8, 1 and 4 query tokens: agrees with the oracle on its split schedule', async () => {
      const backend = await loadCudaDecodeBackend();
      for (const bits of [4, 8] as const) {
        const [batch, heads, kvHeads, headDim, length] = [2, 32, 8, 128, 2048 + 37];
        const cpu = await createKVCache({ batch, kvHeads, headDim, backend: 'cpu', bits });
        const k = Float32Array.from({ length: batch * kvHeads * length * headDim }, (_, i) => Math.sin(i * 0.37) + (i % headDim === 3 ? 4 : 0));
        const v = Float32Array.from({ length: k.length }, (_, i) => Math.cos(i * 0.11));
        cpu.append(k, v);
        const uploaded = await uploadCache(cpu);
        try {
          for (const queryTokens of [1, 4]) {
            const q = Float32Array.from({ length: batch * heads * queryTokens * headDim }, (_, i) => Math.sin(i * 0.53));
            for (const path of pathsFor(cpu)) {
              const { outDiff, lseDiff, schedule } = await decodeAndCompare(backend, uploaded, q, params(heads, queryTokens, headDim), { path });
              console.log(
                `[turboDecode cuda] ${path} bits ${bits} qt ${queryTokens}: ${schedule.maxSplits} splits × ${schedule.pagesPerSplit} pages, vs oracle relL2 ${outDiff.toExponential(3)}, |lse| ${lseDiff.toExponential(3)}`,
              );
            }
          }
        } finally {
          uploaded.dispose();
          cpu.dispose();
        }
      }
    });

    it('the whole flow on the device: a cuda cache filled by append decodes as the oracle reads its pages, as accurately as the cpu cache', async () => {
      // Appends quantize on the device (kv-cache's kernels) and decode reads those pages in place: nothing here goes
      // through the CPU storage upload. The oracle runs on the device cache's own codes (downloadStorage) with the
      // kernel's split schedule, so the bound is the kernel's. Against float64 over the original K/V the device cache
      // must be as accurate as the CPU cache on the same tokens (one row is too few for the conformance bars: a
      // 700-token 4-bit prompt measured 7.5% on the CPU cache for one q of the draw).
      const backend = await loadCudaDecodeBackend();
      const [batch, heads, kvHeads, headDim, prompt, steps] = [2, 8, 2, 128, 700, 3];
      const draw = generateInputs({ batch, heads, kvHeads, seqQ: steps, seqKV: prompt + steps, headDim }, { kind: 'llm', seed: 5 });
      const total = prompt + steps;
      const tokens = (data: Float32Array, from: number, to: number) => sliceTokens(data, batch * kvHeads, total, headDim, from, to);
      for (const [precision, options] of [['int4', { bits: 4 }], ['int8', { bits: 8 }], ['int4/2', { bits: 4, lowBitFraction: { k: 0, v: 0.75 } }]] as const) {
        const gpu = (await createKVCache({ batch, kvHeads, headDim, backend: 'cuda', ...options })) as CudaKVCache;
        const cpu = await createKVCache({ batch, kvHeads, headDim, backend: 'cpu', ...options });
        try {
          void gpu.append(tokens(draw.k, 0, prompt), tokens(draw.v, 0, prompt)); // not awaited: decode orders itself after it
          cpu.append(tokens(draw.k, 0, prompt), tokens(draw.v, 0, prompt));
          for (let step = 0; step < steps; step++) {
            const t = prompt + step;
            await gpu.append(tokens(draw.k, t, t + 1), tokens(draw.v, t, t + 1));
            cpu.append(tokens(draw.k, t, t + 1), tokens(draw.v, t, t + 1));
            const q = sliceTokens(draw.q, batch * heads, steps, headDim, step, step + 1);
            const p = params(heads, 1, headDim);
            const schedule = backend.schedule(gpu, p);
            const state = await backend.decode(q, gpu, p);
            const oracle = decodePagedCpu(q, await gpu.downloadStorage(), { ...p, pagesPerSplit: schedule.pagesPerSplit });
            const diff = compare(state.out, oracle.out).relL2;
            const expected = attention(q, tokens(draw.k, 0, t + 1), tokens(draw.v, 0, t + 1), { batch, heads, kvHeads, seqQ: 1, seqKV: t + 1, headDim });
            const [onGpu, onCpu] = [compare(await turboDecode(q, gpu), expected).relL2, compare(await turboDecode(q, cpu), expected).relL2];
            console.log(`[turboDecode cuda] device-appended ${precision} step ${step}: vs oracle ${diff.toExponential(3)}; vs float64 ${onGpu.toExponential(3)} (cpu cache ${onCpu.toExponential(3)})`);
            assert.ok(diff <= oracleBound(options.bits).out, `${precision} step ${step}: cuda vs oracle on the device cache's pages: relL2 ${diff}`);
            assert.ok(onGpu <= onCpu * 1.05 + 1e-3, `${precision} step ${step}: the cuda cache is ${onGpu} off float64, the cpu cache ${onCpu}`);
          }
        } finally {
          gpu.dispose();
          cpu.dispose();
        }
      }
    });

    it('decodeDevice gives the typed-array result; q with the wrong heads is ERR_QATTN_SHAPE; no device buffer leaks', async () => {
      const rt = getCudaRuntime();
      await rt.releaseCaches();
      const before = rt.liveBuffers();
      const backend = await loadCudaDecodeBackend();
      const cpu = await createKVCache({ batch: 2, kvHeads: 2, headDim: 64, backend: 'cpu' });
      cpu.append(Float32Array.from({ length: 2 * 2 * 300 * 64 }, (_, i) => Math.sin(i)), Float32Array.from({ length: 2 * 2 * 300 * 64 }, (_, i) => Math.cos(i)));
      const uploaded = await uploadCache(cpu);
      try {
        const p = params(4, 2, 64);
        const q = Float32Array.from({ length: 2 * 4 * 2 * 64 }, (_, i) => Math.sin(i * 0.7));
        const host = await backend.decode(q, uploaded.cache, p);
        const qDevice = await rt.upload(q, 'float32', [2, 4, 2, 64]);
        const { out, lse } = await backend.decodeDevice(qDevice, uploaded.cache, p);
        assert.deepEqual(await out.download(), host.out);
        assert.deepEqual(await lse.download(), host.lse);
        for (const t of [qDevice, out, lse]) t.dispose();
        await assert.rejects(turboDecode(new Float32Array(3 * 2 * 64), uploaded.cache), (err: unknown) => isQattnError(err, 'ERR_QATTN_SHAPE'));
      } finally {
        uploaded.dispose();
        cpu.dispose();
      }
      await rt.releaseCaches();
      assert.equal(rt.liveBuffers(), before);
    });
  });
}
