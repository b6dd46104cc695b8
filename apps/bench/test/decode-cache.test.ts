import Ajv from 'ajv';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKVCache } from '@qattn/kv-cache';
import { sasThresholdForKeys } from '@qattn/quant-core';
import { generateInputs } from '@qattn/reference';
import { resolveTurboDecodeOptions } from '@qattn/turbo-attn';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliOptions, resolveConfig } from '../src/cli.js';
import { type DecodeCacheApi, decodeParams, loadDecodeCacheApi } from '../src/decode-cache/api.js';
import { CACHE_KIND_NAMES, parseCacheKinds } from '../src/decode-cache/kinds.js';
import { compareDecodePeers, type DecodePeerCell, runDecodePeers } from '../src/decode-cache/peers.js';
import { accuracySlices, type DecodeCacheRow, gbPerSecond, groupRows, kvChunk, kvPrefix, planRows, stepTiming, withBandwidth } from '../src/decode-cache/rows.js';
import { runDecodeCache } from '../src/decode-cache/run.js';
import { DECODE_TARGETS, failedTargets, judgeTargets } from '../src/decode-cache/targets.js';
import { createInputSource } from '../src/inputs.js';
import type { CellShape } from '../src/metrics.js';
import { probeDecodeBackend } from '../src/modes/decode-cache.js';
import { loadReferencePackage } from '../src/packages.js';
import { PRESETS } from '../src/presets.js';
import type { DecodeWgslCell } from '../src/decode-cache/wgsl-baseline.js';
import { sig3 } from '../src/report/format.js';
import { decodeCacheRowsTable, decodeComparisonTable, targetRows, wgslBaselineRows } from '../src/report/decode-cache.js';
import type { BenchReport } from '../src/report/report.js';
import { benchRoot, runCli } from './helpers.js';

const schema = JSON.parse(readFileSync(join(benchRoot, 'schema/bench-report.schema.json'), 'utf8')) as object;
const fakeDecodePeers = fileURLToPath(new URL('./fixtures/fake-decode-peers.mjs', import.meta.url));
const issueShape = (seqKV: number): CellShape => ({ batch: 4, heads: 32, kvHeads: 8, seqQ: 1, seqKV, headDim: 128, causal: false });
const MiB = 2 ** 20;

afterEach(() => {
  delete process.env.QATTN_PEERS_SCRIPT;
});

describe('decode-cache presets and flags', () => {
  const defaults: CliOptions = { preset: 'decode-cache', seed: 1, data: 'llm', accuracyRows: 128, progress: false };

  it("expands to issue 9's decode shape: B4 H32/8 D128, one query token, 4K/16K/64K keys, 4-bit, INT8 and the 4/2 mix", () => {
    const { config } = resolveConfig(defaults);
    expect(config.mode).toBe('decode-cache');
    expect(config.shapes.map((s) => s.seqKV)).toEqual([4096, 16384, 65536]);
    expect(config.shapes.every((s) => s.batch === 4 && s.heads === 32 && s.kvHeads === 8 && s.seqQ === 1 && s.headDim === 128)).toBe(true);
    expect(config.caches).toEqual(['int4', 'int8', 'mix']);
    expect(config.algorithms).toEqual(['turbo-attn']);
    expect(config.calls).toBe(PRESETS['decode-cache'].calls);
  });

  it('has a smoke preset small enough for a CPU, and --caches overrides the kinds in table order', () => {
    const { config } = resolveConfig({ ...defaults, preset: 'decode-cache-smoke', caches: ['mix-paper', 'int8'] });
    expect(config.shapes.every((s) => s.batch === 1 && s.headDim === 64 && s.seqKV <= 1000)).toBe(true);
    expect(config.caches).toEqual(['mix-paper', 'int8']);
    expect(parseCacheKinds('int8, int4,int8')).toEqual(['int4', 'int8']);
    expect(parseCacheKinds('all')).toEqual([...CACHE_KIND_NAMES]);
    expect(() => parseCacheKinds('int3')).toThrow(/unknown cache kind 'int3'/);
    expect(() => parseCacheKinds('int4,')).toThrow(RangeError);
  });

  it('rejects --caches on other presets and an unknown kind with exit 1', async () => {
    expect(() => resolveConfig({ ...defaults, preset: 'quick', caches: ['int4'] })).toThrow(/--caches applies to the decode-cache presets/);
    const bad = await runCli(['--preset', 'decode-cache-smoke', '--caches', 'int3']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown cache kind 'int3'/);
    const algorithm = await runCli(['--preset', 'decode-cache-smoke', '-a', 'flash-int8-pv-int8', '--backends', 'cpu', '--no-progress']);
    expect(algorithm.code).toBe(1);
    expect(algorithm.stderr).toMatch(/measures turboDecode: -a turbo-attn and\/or turbo-attn-exp2 \(not flash-int8-pv-int8\)/);
    const tooMany = await runCli(['--preset', 'decode-cache-smoke', '--seq-q', '17', '--backends', 'cpu', '--no-progress']);
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(/1 to 16 query tokens per step/);
  });
});

describe('decode-cache arithmetic', () => {
  it('takes GB/s as bytes / median time in 10⁹ bytes per second', () => {
    // 18 MiB in 10 µs: 1887 GB/s.
    expect(gbPerSecond(18 * MiB, 0.01)).toBeCloseTo((18 * MiB) / 1e-5 / 1e9, 9);
    expect(gbPerSecond(1e9, 1000)).toBe(1);
    expect(() => gbPerSecond(1, 0)).toThrow(RangeError);
  });

  it('reports the median and p10/p90 of the step samples, and GB/s from the allocated bytes', () => {
    const step = stepTiming([0.05, 0.01, 0.03, 0.02, 0.04], 'events');
    expect(step).toMatchObject({ timer: 'events', medianMs: 0.03, minMs: 0.01, maxMs: 0.05 });
    expect(step.p10Ms).toBeCloseTo(0.014, 12);
    expect(step.p90Ms).toBeCloseTo(0.046, 12);
    expect(step.samplesMs).toEqual([0.05, 0.01, 0.03, 0.02, 0.04]);
    const row: DecodeCacheRow = {
      algorithm: 'turbo-attn',
      backend: 'cuda',
      cache: 'int4',
      cacheOptions: { bits: 4 },
      shape: issueShape(4096),
      status: 'ok',
      memory: { allocatedBytes: 18_013_648, fp16Bytes: 67_108_864, compressionRatio: 67_108_864 / 18_013_648, parts: { pages: 0, sinks: 0, buffers: 0, tables: 0 } },
      step,
    };
    const measured = withBandwidth(row);
    expect(measured.bytesPerStep).toBe(18_013_648);
    expect(measured.gbps).toBeCloseTo(18_013_648 / 0.03e-3 / 1e9, 9);
    expect(withBandwidth({ ...row, step: undefined }).gbps).toBeUndefined();
  });

  it('plans rows shape-major; an unavailable backend and over-budget cpu rows keep their reasons', () => {
    const shapes = [issueShape(4096), issueShape(65536)];
    const rows = planRows(shapes, ['cpu', 'webgpu'], ['int4', 'int8'], ['turbo-attn'], { cpu: { available: true }, webgpu: { available: false, reason: 'not yet' } }, 0.3);
    expect(rows.map((r) => `${r.shape.seqKV} ${r.backend} ${r.cache} ${r.status}`)).toEqual([
      '4096 cpu int4 ok',
      '4096 cpu int8 ok',
      '4096 webgpu int4 unavailable',
      '4096 webgpu int8 unavailable',
      '65536 cpu int4 skipped',
      '65536 cpu int8 skipped',
      '65536 webgpu int4 unavailable',
      '65536 webgpu int8 unavailable',
    ]);
    expect(rows[2].error).toEqual({ code: 'ERR_QATTN_BACKEND_UNAVAILABLE', message: 'not yet' });
    expect(rows[4].error?.message).toBe('4.29 GOP per step > --cpu-max-gop 0.3');
    expect(rows[1].cacheOptions).toEqual({ bits: 8 });
  });

  it('spends the float64 reference budget on evenly spread (sequence, kv head) slices', () => {
    const all = accuracySlices(issueShape(4096), 1e9);
    expect(all.slices).toHaveLength(32);
    expect(all.description).toMatch(/^all 32 \(sequence, kv head\) slices: every query head of each \(4 per kv head\), all 4096 keys/);
    expect(accuracySlices(issueShape(16384), 1e9).slices).toHaveLength(29);
    // 64K: 4·4·65536·128 = 134M multiply-adds per slice, 7 fit in 10⁹.
    const some = accuracySlices(issueShape(65536), 1e9);
    expect(some.slices).toHaveLength(7);
    expect(some.slices[0]).toEqual({ batch: 0, kvHead: 0 });
    expect(new Set(some.slices.map((s) => s.batch))).toEqual(new Set([0, 1, 2, 3]));
    expect(accuracySlices(issueShape(65536), 1).slices).toHaveLength(1);
  });

  it('cuts prompt prefixes and append chunks per (sequence, kv head), and finds a kv head’s query rows', () => {
    // [batch 2, kvHeads 1, 3 tokens, headDim 2]: value = 100·slice + 10·token + channel.
    const full = Float32Array.from({ length: 12 }, (_, i) => 100 * Math.floor(i / 6) + 10 * Math.floor((i % 6) / 2) + (i % 2));
    expect([...kvPrefix(full, 2, 1, 3, 2, 2)]).toEqual([0, 1, 10, 11, 100, 101, 110, 111]);
    expect(kvPrefix(full, 2, 1, 3, 3, 2)).toBe(full);
    expect([...kvChunk(full, 2, 1, 3, 2, 1, 2)]).toEqual([10, 11, 20, 21, 110, 111, 120, 121]);
    expect(() => kvPrefix(full, 2, 1, 3, 4, 2)).toThrow(RangeError);
    const shape: CellShape = { batch: 2, heads: 4, kvHeads: 2, seqQ: 1, seqKV: 3, headDim: 2, causal: false };
    const q = Float32Array.from({ length: 16 }, (_, i) => i);
    expect([...groupRows(q, shape, { batch: 1, kvHead: 1 })]).toEqual([12, 13, 14, 15]);
  });
});

describe('peers and targets', () => {
  const row = (backend: 'cuda' | 'cpu', cache: 'int4' | 'int8' | 'mix', seqKV: number, medianMs: number, extra: Partial<DecodeCacheRow> = {}): DecodeCacheRow =>
    withBandwidth({
      algorithm: 'turbo-attn',
      backend,
      cache,
      cacheOptions: { bits: cache === 'int8' ? 8 : 4 },
      shape: issueShape(seqKV),
      status: 'ok',
      step: stepTiming([medianMs], 'events'),
      memory: { allocatedBytes: 100 * MiB, fp16Bytes: 380 * MiB, compressionRatio: 3.8, parts: { pages: 0, sinks: 0, buffers: 0, tables: 0 } },
      ...extra,
    });
  const peer = (name: DecodePeerCell['peer'], seqKV: number, medianMs: number, bytesMoved: number): DecodePeerCell => ({
    peer: name,
    shape: issueShape(seqKV),
    status: 'ok',
    medianMs,
    bytesMoved,
    gbps: gbPerSecond(bytesMoved, medianMs),
  });

  it('relates GPU rows to the SDPA peers and the copy of their shape', () => {
    const peers = [
      peer('sdpa-flash-fp16', 16384, 0.2, 268 * MiB),
      peer('sdpa-cudnn-bf16', 16384, 0.07, 268 * MiB),
      { ...peer('sdpa-cudnn-fp16', 16384, 0.01, 0), status: 'error' as const },
      peer('copy-fp16', 16384, 0.1, 2 * 268 * MiB),
      peer('sdpa-flash-fp16', 4096, 0.05, 67 * MiB),
    ];
    const comparisons = compareDecodePeers([row('cuda', 'int4', 16384, 0.035), row('cpu', 'int4', 16384, 5)], peers);
    expect(comparisons).toHaveLength(1);
    const [c] = comparisons;
    expect(c.sdpa.map((s) => [s.peer, s.speedup])).toEqual([
      ['sdpa-flash-fp16', 0.2 / 0.035],
      ['sdpa-cudnn-bf16', 0.07 / 0.035],
    ]);
    expect(c.fastestSdpa).toEqual({ peer: 'sdpa-cudnn-bf16', peerMs: 0.07, speedup: 2 });
    expect(c.copyGbps).toBeCloseTo((2 * 268 * MiB) / 0.1e-3 / 1e9, 6);
    expect(c.ofCopy).toBeCloseTo((100 * MiB) / 0.035e-3 / ((2 * 268 * MiB) / 0.1e-3), 9);
    const table = decodeComparisonTable({ comparisons } as never);
    expect(table.head).toEqual(['backend', 'cache', 'shape', 'step µs', '÷ flash fp16', '÷ cuDNN bf16', '÷ fastest SDPA', 'GB/s', 'copy GB/s', '% of copy']);
    expect(table.rows[0].slice(4, 7)).toEqual(['5.71×', '2.00×', '2.00× (cuDNN bf16)']);
  });

  it("judges issue 9's targets where they apply: speed ≥ 16K on cuda, overhead, memory ≥ 4K, accuracy 2K–16K, mix as an aim", () => {
    const fast = row('cuda', 'int4', 16384, 0.035, {
      accuracy: { relL2: 0.03, cos: 0.999, maxAbs: 0.1, slices: 'all' },
      deviceStep: { status: 'ok', hostOverheadUs: 41, kernelMedianUs: 35 },
    });
    const slowInt8 = row('cuda', 'int8', 65536, 0.2, { memory: { allocatedBytes: 1, fp16Bytes: 1.9, compressionRatio: 1.9, parts: { pages: 0, sinks: 0, buffers: 0, tables: 0 } } });
    const mix = row('cuda', 'mix', 4096, 0.02, { accuracy: { relL2: 0.13, cos: 0.99, maxAbs: 1, slices: 'all' } });
    const shortCpu = row('cpu', 'int4', 1000, 5, { accuracy: { relL2: 0.5, cos: 0.5, maxAbs: 1, slices: 'all' } });
    const peers = [peer('sdpa-cudnn-bf16', 16384, 0.07, 1), peer('sdpa-cudnn-bf16', 65536, 0.24, 1), peer('sdpa-cudnn-bf16', 4096, 0.04, 1)];
    const checks = judgeTargets([fast, slowInt8, mix, shortCpu], compareDecodePeers([fast, slowInt8, mix], peers));
    const summary = checks.map((c) => `${c.target} ${c.cache} ${c.shape.seqKV} ${c.pass ? 'pass' : 'fail'}${c.aim ? ' aim' : ''}`);
    expect(summary).toEqual([
      'speedup vs SDPA int4 16384 pass',
      'host overhead int4 16384 fail',
      'memory vs fp16 int4 16384 pass',
      'relative L2 int4 16384 pass',
      'speedup vs SDPA int8 65536 fail',
      'memory vs fp16 mix 4096 fail',
      'relative L2 mix 4096 fail aim',
    ]);
    expect(checks[0]).toMatchObject({ measured: 2, bound: DECODE_TARGETS.speedup.atLeast.int4, detail: 'vs sdpa-cudnn-bf16, the fastest SDPA peer' });
    expect(failedTargets(checks).map((c) => c.target)).toEqual(['host overhead', 'speedup vs SDPA', 'memory vs fp16']);
    expect(targetRows(checks).map((r) => r[6])).toEqual(['pass', 'FAIL', 'pass', 'pass', 'FAIL', 'FAIL', 'above aim']);
  });

  it('relates webgpu rows to the WGSL baselines of their shape and judges the WebGPU target on the 4-bit cache', () => {
    const wgsl = (name: DecodeWgslCell['peer'], seqKV: number, medianMs: number, status: DecodeWgslCell['status'] = 'ok'): DecodeWgslCell => ({
      peer: name,
      shape: issueShape(seqKV),
      status,
      dtype: name === 'wgsl-f32' ? 'float32' : 'float16',
      ...(status === 'ok' ? { step: stepTiming([medianMs], 'timestamp-query') } : { error: { code: 'ERR_QATTN_UNSUPPORTED', message: 'no shader-f16' } }),
    });
    const webgpu = (cache: 'int4' | 'int8', seqKV: number, medianMs: number) => ({ ...row('cuda', cache, seqKV, medianMs), backend: 'webgpu' as const, step: stepTiming([medianMs], 'timestamp-query') });
    const rows = [webgpu('int4', 4096, 0.1), webgpu('int8', 4096, 0.25), webgpu('int4', 16384, 0.5), row('cuda', 'int4', 4096, 0.01)];
    const cells = [wgsl('wgsl-f32', 4096, 0.4), wgsl('wgsl-f16', 4096, 0.2), wgsl('wgsl-f32', 16384, 0.45), wgsl('wgsl-f16', 16384, 0, 'unsupported')];
    const comparisons = compareDecodePeers(rows, [peer('sdpa-cudnn-bf16', 4096, 0.04, 1)], cells);
    // Every GPU row meets the SDPA peer of its shape; only webgpu rows meet the WGSL baselines.
    expect(comparisons.map((c) => [c.backend, c.cache, c.shape.seqKV, c.fastestWgsl?.peer, c.fastestWgsl?.speedup])).toEqual([
      ['webgpu', 'int4', 4096, 'wgsl-f16', 2],
      ['webgpu', 'int8', 4096, 'wgsl-f16', 0.8],
      ['webgpu', 'int4', 16384, 'wgsl-f32', 0.9],
      ['cuda', 'int4', 4096, undefined, undefined],
    ]);
    expect(comparisons[0].wgsl).toEqual([
      { peer: 'wgsl-f32', peerMs: 0.4, speedup: 4 },
      { peer: 'wgsl-f16', peerMs: 0.2, speedup: 2 },
    ]);
    expect(comparisons[2].wgsl!.map((w) => w.peer)).toEqual(['wgsl-f32']);
    const checks = judgeTargets(rows, comparisons).filter((c) => c.target === 'speedup vs WGSL');
    expect(checks.map((c) => [c.cache, c.shape.seqKV, c.measured, c.pass])).toEqual([
      ['int4', 4096, 2, true],
      ['int4', 16384, 0.9, false],
    ]);
    expect(checks[0]).toMatchObject({ bound: DECODE_TARGETS.wgslSpeedup.atLeast.int4, direction: 'atLeast', detail: 'vs wgsl-f16, the faster plain WGSL decode on the same adapter' });
    const table = decodeComparisonTable({ comparisons: comparisons.slice(0, 3) } as never);
    expect(table.head).toEqual(['backend', 'cache', 'shape', 'step µs', '÷ cuDNN bf16', '÷ fastest SDPA', '÷ wgsl-f32', '÷ wgsl-f16', '÷ fastest WGSL', 'GB/s']);
    expect(table.rows[0].slice(4)).toEqual(['0.40×', '0.40× (cuDNN bf16)', '4.00×', '2.00×', '2.00× (wgsl-f16)', sig3(comparisons[0].qattnGbps!)]);
    expect(table.rows[2].slice(4, 9)).toEqual(['–', '–', '0.90×', '–', '0.90× (wgsl-f32)']);
    const baselineTable = wgslBaselineRows({ wgslBaselines: { cells } } as never);
    expect(baselineTable[3]).toEqual(['wgsl-f16', 'B4 H32/8 Sq1 Skv16384 D128', '–', '–', '–', '–', '–', '–', 'unsupported']);
  });

  it('runs the peers script in decode-cache mode and computes each cell’s GB/s from the bytes it moved', async () => {
    process.env.QATTN_PEERS_SCRIPT = fakeDecodePeers;
    const progress: string[] = [];
    const report = await runDecodePeers([issueShape(4096)], { python: process.execPath, warmup: 0, repeats: 1, seed: 1, accuracyRows: 16, onProgress: (d, t) => void progress.push(`${d}/${t}`) });
    expect(report).toMatchObject({ status: 'ok', device: 'Fake GPU', torch: '2.9.0', l2CacheBytes: 50 * MiB });
    expect(report.cells.map((c) => c.peer)).toEqual(['sdpa-flash-fp16', 'sdpa-cudnn-bf16', 'sdpa-cudnn-fp16', 'copy-fp16']);
    const kvBytes = 2 * 2 * 4 * 8 * 4096 * 128;
    expect(report.cells[3].gbps).toBeCloseTo((2 * kvBytes) / 0.1e-3 / 1e9, 6);
    expect(report.cells[2].gbps).toBeUndefined();
    expect(progress).toEqual(['0/1']);
    const missing = await runDecodePeers([issueShape(4096)], { python: '/nonexistent/python3', warmup: 0, repeats: 1, seed: 1, accuracyRows: 16 });
    expect(missing).toMatchObject({ status: 'unavailable', reason: '/nonexistent/python3 not found (set --python or QATTN_PYTHON)', cells: [] });
  });
});

describe('decode parameters and backend probe', () => {
  it("resolves turboDecode's defaults: 1 query token, 16 pages per split, SAS at the cache length's threshold; sas: false is exp2", async () => {
    const cache = await createKVCache({ batch: 1, kvHeads: 2, headDim: 64, backend: 'cpu' });
    const { k, v } = generateInputs({ batch: 1, heads: 2, seqQ: 1, seqKV: 300, headDim: 64 }, { kind: 'llm', seed: 1 });
    cache.append(k, v);
    expect(decodeParams(resolveTurboDecodeOptions, cache, 8, {})).toEqual({
      heads: 8,
      queryTokens: 1,
      scale: 1 / 8,
      pagesPerSplit: 16,
      variant: { exponent: 'sas', sasThreshold: sasThresholdForKeys(300), skipSparseTiles: true },
    });
    expect(decodeParams(resolveTurboDecodeOptions, cache, 8, { sas: false, queryTokens: 4, sasThreshold: 10 }).variant).toEqual({ exponent: 'exp2', sasThreshold: 10, skipSparseTiles: false });
    expect(() => decodeParams(resolveTurboDecodeOptions, cache, 8, { sasThreshold: 99 })).toThrow(/sasThreshold/);
    expect(() => decodeParams(resolveTurboDecodeOptions, cache, 8, { bogus: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_QATTN_OPTION' }));
    cache.dispose();
  });

  it('marks a backend unavailable only when the cache or its decode answers ERR_QATTN_BACKEND_UNAVAILABLE', async () => {
    const api = await loadDecodeCacheApi();
    expect(await probeDecodeBackend(api, 'cpu', 64)).toEqual({ available: true });
    const unavailable = { ...api, turboDecode: () => Promise.reject(Object.assign(new Error('decoding a webgpu cache is not implemented yet'), { code: 'ERR_QATTN_BACKEND_UNAVAILABLE' })) };
    expect(await probeDecodeBackend(unavailable, 'cpu', 64)).toEqual({ available: false, reason: 'decoding a webgpu cache is not implemented yet' });
    const broken = { ...api, turboDecode: () => Promise.reject(Object.assign(new Error('boom'), { code: 'ERR_QATTN_DEVICE' })) };
    expect(await probeDecodeBackend(broken, 'cpu', 64)).toEqual({ available: true, reason: 'the probe failed (ERR_QATTN_DEVICE): boom' });
  });
});

describe('the runner on a stand-in GPU backend', () => {
  it('times steps with the device timers, measures the device-resident step overhead and releases every output', async () => {
    const real = await loadDecodeCacheApi();
    const disposed: string[] = [];
    const tensor = (name: string) => ({ dispose: () => void disposed.push(name) });
    // A "cuda" backend made of the cpu cache and decode, with device timers and a device entry that report fixed numbers.
    const api: DecodeCacheApi = {
      ...real,
      createKVCache: (options) => real.createKVCache({ ...options, backend: 'cpu' }),
      benchmarkDecode: async (_q, _cache, _params, settings) => Array.from({ length: settings.repeats }, () => 0.05),
      deviceDecode: async () => async () => ({ out: tensor('out'), lse: tensor('lse') }),
    };
    let clock = 0;
    const reference = await loadReferencePackage();
    const shape: CellShape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 1, seqKV: 200, headDim: 32, causal: false };
    const planned = planRows([shape], ['cuda'], ['int4'], ['turbo-attn'], { cuda: { available: true } }, 1);
    const [row] = await runDecodeCache(
      planned,
      { warmup: 1, repeats: 3, calls: 5, seed: 1, accuracy: true, options: {}, fillChunkTokens: 64, referenceOpsBudget: 1e9 },
      {
        api,
        reference,
        inputs: createInputSource(reference, 'llm'),
        cudaRuntime: () => ({ upload: async () => tensor('q') }) as never,
        // Every reading of this clock is 80 µs after the previous one: a device-resident step takes 80 µs of wall time.
        now: () => (clock += 0.08),
      },
    );
    expect(row.status, JSON.stringify(row.error)).toBe('ok');
    expect(row.fill).toMatchObject({ appends: 4 });
    expect(row.step).toMatchObject({ timer: 'events', medianMs: 0.05 });
    expect(row.gbps).toBeCloseTo(row.memory!.allocatedBytes / 0.05e-3 / 1e9, 9);
    expect(row.deviceStep).toMatchObject({ status: 'ok', kernelMedianUs: 50, targetUs: 40, pass: true });
    expect(row.deviceStep!.hostOverheadUs).toBeCloseTo(30, 9);
    expect(row.accuracy!.relL2).toBeLessThan(0.06);
    expect(row.accuracy!.slices).toMatch(/^all 2 \(sequence, kv head\) slices/);
    // 10 warm-up + 5 timed steps, each releasing its out and lse; q released once at the end.
    expect(disposed.filter((d) => d === 'out')).toHaveLength(15);
    expect(disposed.filter((d) => d === 'lse')).toHaveLength(15);
    expect(disposed.filter((d) => d === 'q')).toHaveLength(1);
  });

  it('on webgpu: waits for the queue in each device-resident step, and runs the shape peers once after each shape', async () => {
    const real = await loadDecodeCacheApi();
    let queueWaits = 0;
    const tensor = () => ({ dispose: () => undefined, context: { device: { queue: { onSubmittedWorkDone: async () => void queueWaits++ } } } });
    const api: DecodeCacheApi = {
      ...real,
      createKVCache: (options) => real.createKVCache({ ...options, backend: 'cpu' }),
      benchmarkDecode: async (_q, _cache, _params, settings) => Array.from({ length: settings.repeats }, () => 0.05),
      deviceDecode: async (backend) => (backend === 'webgpu' ? async () => ({ out: tensor(), lse: tensor() }) : undefined),
    };
    const reference = await loadReferencePackage();
    const shapes: CellShape[] = [200, 100].map((seqKV) => ({ batch: 1, heads: 4, kvHeads: 2, seqQ: 1, seqKV, headDim: 32, causal: false }));
    const seen: string[] = [];
    const rows = await runDecodeCache(
      planRows(shapes, ['webgpu'], ['int4', 'int8'], ['turbo-attn'], { webgpu: { available: true } }, 1),
      { warmup: 0, repeats: 2, calls: 3, seed: 1, accuracy: true, options: {}, fillChunkTokens: 64, referenceOpsBudget: 1e9 },
      {
        api,
        reference,
        inputs: createInputSource(reference, 'llm'),
        webgpuRuntime: () => ({ acquireGpu: async () => ({}), fromArray: () => tensor() }),
        shapePeers: async (shape, inputs, score, backends) => {
          // The float64 attention of the same inputs scores ≈ 0 against the rows' reference: same draw, same slices.
          const exact = Float32Array.from(reference.attention!(inputs.q, inputs.k, inputs.v, shape, {}));
          seen.push(`${shape.seqKV} ${[...backends].join()} ${score(exact).accuracy!.relL2 < 1e-6}`);
        },
      },
    );
    expect(rows.map((r) => [r.status, r.deviceStep?.status])).toEqual(Array.from({ length: 4 }, () => ['ok', 'ok']));
    expect(rows[0].deviceStep).toMatchObject({ kernelMedianUs: 50 });
    expect(rows[0].deviceStep!.targetUs).toBeUndefined();
    // 10 warm-up + 3 timed steps per row.
    expect(queueWaits).toBe(4 * 13);
    expect(seen).toEqual(['200 webgpu true', '100 webgpu true']);
  });

  it('keeps a failing row in the table with its error and goes on', async () => {
    const real = await loadDecodeCacheApi();
    const api: DecodeCacheApi = { ...real, createKVCache: () => Promise.reject(Object.assign(new Error('pool exhausted'), { code: 'ERR_QATTN_DEVICE' })) };
    const reference = await loadReferencePackage();
    const shape: CellShape = { batch: 1, heads: 2, kvHeads: 1, seqQ: 1, seqKV: 70, headDim: 16, causal: false };
    const rows = await runDecodeCache(planRows([shape], ['cpu'], ['int4', 'int8'], ['turbo-attn'], {}, 1), { warmup: 0, repeats: 1, calls: 1, seed: 1, accuracy: false, options: {}, fillChunkTokens: 64, referenceOpsBudget: 1e9 }, { api, reference, inputs: createInputSource(reference, 'llm') });
    expect(rows.map((r) => [r.status, r.error?.code])).toEqual([
      ['error', 'ERR_QATTN_DEVICE'],
      ['error', 'ERR_QATTN_DEVICE'],
    ]);
    expect(decodeCacheRowsTable({ rows, settings: {} } as never).rows[0].at(-1)).toBe('error ERR_QATTN_DEVICE');
  });
});

describe('qattn-bench --preset decode-cache-smoke --backends cpu', () => {
  it('fills each cache, decodes, checks float64 accuracy and writes a report that validates', async () => {
    process.env.QATTN_PEERS_SCRIPT = fakeDecodePeers;
    const dir = mkdtempSync(join(tmpdir(), 'qattn-decode-cache-'));
    const json = join(dir, 'out.json');
    const md = join(dir, 'out.md');
    const started = Date.now();
    const run = await runCli(['--preset', 'decode-cache-smoke', '--backends', 'cpu', '--seq-kv', '333', '--caches', 'int4,int8,mix', '--peers', '--python', process.execPath, '--no-progress', '--json', json, '--md', md]);
    expect(run.code, run.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(new Ajv({ strict: true, allErrors: true }).compile(schema)(report)).toBe(true);
    const rows = report.decodeCache!.rows;
    expect(rows.map((r) => [r.cache, r.status])).toEqual([
      ['int4', 'ok'],
      ['int8', 'ok'],
      ['mix', 'ok'],
    ]);
    const byKind = Object.fromEntries(rows.map((r) => [r.cache, r]));
    // The kv-cache README at hd 128 and 2K–16K keys: 4-bit 2–5%, INT8 0.2–0.5%, this mix 5–14%; a tiny cache is
    // held to the same order, and each kind is ordered as its bits say.
    expect(byKind.int8.accuracy!.relL2).toBeLessThan(0.01);
    expect(byKind.int4.accuracy!.relL2).toBeLessThan(0.06);
    expect(byKind.int4.accuracy!.relL2).toBeGreaterThan(byKind.int8.accuracy!.relL2);
    expect(byKind.mix.accuracy!.relL2).toBeLessThan(0.15);
    expect(byKind.mix.memory!.allocatedBytes).toBeLessThan(byKind.int4.memory!.allocatedBytes);
    expect(byKind.int4.memory!.allocatedBytes).toBeLessThan(byKind.int8.memory!.allocatedBytes);
    for (const r of rows) {
      expect(r.memory!.fp16Bytes).toBe(2 * 2 * 1 * 2 * 333 * 64);
      expect(r.step!.timer).toBe('host');
      expect(r.gbps).toBeCloseTo(r.memory!.allocatedBytes / (r.step!.medianMs * 1e-3) / 1e9, 9);
      expect(r.deviceStep).toBeUndefined();
    }
    expect(report.decodeCache!.peers).toMatchObject({ status: 'ok', device: 'Fake GPU' });
    // cpu rows have no GPU peers to be compared with; the small prompt is outside every target's domain.
    expect(report.decodeCache!.comparisons).toEqual([]);
    expect(report.decodeCache!.targets).toEqual([]);
    expect(run.stdout).toMatch(/Decode over the quantized KV cache:/);
    expect(run.stdout).toMatch(/Peers \(PyTorch SDPA decode, device copy\):/);
    const text = readFileSync(md, 'utf8');
    expect(text).toMatch(/^\| backend \| cache \| shape \| step µs \|/m);
    expect(text.match(/^\| cpu \| (int4|int8|mix) \| B1 H8\/2 Sq1 Skv333 D64 \|/gm)).toHaveLength(3);
    expect(text).toMatch(/^\| copy-fp16 \| B1 H8\/2 Sq1 Skv333 D64 \|/m);
  });
});

// The real script. Without torch it says so; with torch (python3 importing it, or QATTN_TEST_TORCH_PYTHON) it runs its
// decode-cache mode on the CPU (QATTN_PEERS_DEVICE=cpu: flash and the copy run, cuDNN errors out).
const python3 = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
const torchPython = process.env.QATTN_TEST_TORCH_PYTHON || (python3.status === 0 ? 'python3' : '');
describe('peers/sdpa_peers.py in decode-cache mode', () => {
  const shapes: CellShape[] = [
    { batch: 2, heads: 8, kvHeads: 2, seqQ: 1, seqKV: 100, headDim: 16, causal: false },
    { batch: 1, heads: 4, kvHeads: 4, seqQ: 3, seqKV: 50, headDim: 16, causal: true },
  ];
  const options = { warmup: 1, repeats: 2, seed: 1, accuracyRows: 16 };

  it.skipIf(python3.error !== undefined || python3.status === 0)('reports "torch not importable" when python3 has no torch', async () => {
    const report = await runDecodePeers(shapes, { ...options, python: 'python3' });
    expect(report.status).toBe('unavailable');
    expect(report.reason).toMatch(/^torch not importable: /);
  });

  it.skipIf(!torchPython)('times SDPA decode with GQA and the copy, counting the bytes each moves', async () => {
    process.env.QATTN_PEERS_DEVICE = 'cpu';
    try {
      const report = await runDecodePeers(shapes, { ...options, python: torchPython });
      expect(report.status, report.reason).toBe('ok');
      const cell = (peer: string, index: number) => report.cells.filter((c) => c.peer === peer)[index];
      const flash = cell('sdpa-flash-fp16', 0);
      expect(flash.status, JSON.stringify(flash.error)).toBe('ok');
      expect(flash.bytesMoved).toBe(flash.gqa === 'enable_gqa' ? 2 * 2 * 2 * 2 * 100 * 16 : 2 * 2 * 2 * 8 * 100 * 16);
      expect(flash.accuracy!.relL2).toBeLessThan(3e-3);
      expect(cell('sdpa-flash-fp16', 1).gqa).toBe('none');
      expect(cell('sdpa-flash-fp16', 1).accuracy!.relL2).toBeLessThan(3e-3);
      expect(cell('copy-fp16', 0)).toMatchObject({ status: 'ok', bytesMoved: 2 * (2 * 2 * 2 * 100 * 16 * 2) });
      expect(report.cells.filter((c) => c.peer.startsWith('sdpa-cudnn')).every((c) => c.status === 'error')).toBe(true);
    } finally {
      delete process.env.QATTN_PEERS_DEVICE;
    }
  });
});
