import { describe, expect, it } from 'vitest';
import { createAlgorithms, type Timing, type TimingRequest } from '../src/algorithms.js';
import { resolveConfig } from '../src/cli.js';
import type { CellShape } from '../src/metrics.js';
import type { KernelPackage } from '../src/packages.js';
import { DEFAULT_WARMUP_MS, PRESETS } from '../src/presets.js';
import { RULE_CANDIDATE } from '../src/schedules/candidates.js';
import { runScheduleSweep } from '../src/schedules/sweep.js';
import { MAX_WARMUP_CALLS, warmupCalls, withTimedWarmup } from '../src/warmup.js';
import { runCli } from './helpers.js';

describe('warmupCalls', () => {
  it('counts calls up to the wall time, the count being the floor', () => {
    // The H200 case of the README: 300 ms of a ≈5 ms call is 60 calls, not the presets' 3.
    expect(warmupCalls(3, 300, 5)).toBe(60);
    expect(warmupCalls(3, 300, 7)).toBe(43); // rounded up: 42 calls would be 294 ms
    expect(warmupCalls(100, 300, 5)).toBe(100);
    expect(warmupCalls(0, 300, 400)).toBe(1);
  });

  it('caps a probe of microseconds at MAX_WARMUP_CALLS, but never lowers the count', () => {
    expect(warmupCalls(3, 300, 0.001)).toBe(MAX_WARMUP_CALLS);
    expect(warmupCalls(MAX_WARMUP_CALLS + 5, 300, 0.001)).toBe(MAX_WARMUP_CALLS + 5);
  });

  it('keeps the count when the time is off or the probe is no time at all', () => {
    for (const perCallMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(warmupCalls(3, 300, perCallMs)).toBe(3);
    for (const warmupMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) expect(warmupCalls(3, warmupMs, 5)).toBe(3);
  });
});

describe('withTimedWarmup', () => {
  it('probes one call, then benches for the record with the sized warm-up', async () => {
    const calls: Array<[number, number]> = [];
    const bench = async (warmup: number, repeats: number) => (calls.push([warmup, repeats]), { medianMs: 4 });
    expect((await withTimedWarmup(bench, 3, 10, 300)).warmup).toBe(75);
    expect(calls).toEqual([
      [0, 1],
      [75, 10],
    ]);
    calls.length = 0;
    expect((await withTimedWarmup(bench, 3, 10, 0)).warmup).toBe(3);
    expect(calls).toEqual([[3, 10]]); // no probe when the time-based warm-up is off
  });
});

describe("a kernel algorithm's timing", () => {
  const shape = { batch: 4, heads: 32, kvHeads: 32, seqQ: 1024, seqKV: 1024, headDim: 128 };
  /** A package whose benchmark hook records its settings and answers a 5 ms call. */
  function recordingPackage(): { pkg: KernelPackage; seen: Array<{ warmup: number; repeats: number; seed: number }> } {
    const seen: Array<{ warmup: number; repeats: number; seed: number }> = [];
    const pkg: KernelPackage = {
      name: 'fake',
      benchmark: async (_shape, _options, bench) => {
        seen.push({ warmup: bench.warmup, repeats: bench.repeats, seed: bench.seed ?? -1 });
        return { backend: 'fake', medianMs: 5, minMs: 5, samplesMs: Array.from({ length: bench.repeats }, () => 5), timer: 'events' };
      },
    };
    return { pkg, seen };
  }
  const request = (backend: TimingRequest['backend'], warmupMs?: number): TimingRequest => ({
    shape,
    causal: false,
    backend,
    warmup: 3,
    ...(warmupMs === undefined ? {} : { warmupMs }),
    repeats: 10,
    seed: 7,
    inputs: () => Promise.reject(new Error('a benchmark hook makes its own inputs')),
  });
  const algorithmOf = (pkg: KernelPackage) => createAlgorithms({ flashInt8: pkg, turbo: pkg }).find((a) => a.id === 'flash-int8-pv-int8')!;

  it('on a GPU backend, warms up for warmupMs as sized by a probe call and reports the calls', async () => {
    const { pkg, seen } = recordingPackage();
    const timing = await algorithmOf(pkg).time(request('webgpu', 300));
    expect(seen).toEqual([
      { warmup: 0, repeats: 1, seed: 7 },
      { warmup: 60, repeats: 10, seed: 7 },
    ]);
    expect(timing).toMatchObject({ medianMs: 5, timer: 'events', warmupCalls: 60 });
  });

  it('on the cpu, or with warmupMs 0, counts calls only (one hook call, no warmupCalls)', async () => {
    for (const req of [request('cpu', 300), request('cuda', 0), request('cuda')]) {
      const { pkg, seen } = recordingPackage();
      const timing = await algorithmOf(pkg).time(req);
      expect(seen).toEqual([{ warmup: 3, repeats: 10, seed: 7 }]);
      expect(timing.warmupCalls).toBeUndefined();
    }
  });
});

describe('the schedule sweep', () => {
  it('sizes the warm-up of every timed row (candidates and baseline) in time', async () => {
    const shape: CellShape = { batch: 1, heads: 2, kvHeads: 2, seqQ: 64, seqKV: 64, headDim: 32, causal: false };
    const seen: number[] = [];
    const timing = (warmup: number): Timing => (seen.push(warmup), { medianMs: 2, minMs: 2, samplesMs: [2], timer: 'timestamp-query' });
    const result = await runScheduleSweep(
      [shape],
      [{ algorithm: 'flash-int8-pv-int8', benchmark: async (_c, _s, warmup) => timing(warmup), check: async () => ({ vsOracle: 0, vsReference: 0, oracleVsReference: 0 }) }],
      { name: 'f32', benchmark: async (_s, warmup) => timing(warmup) },
      { warmup: 1, warmupMs: 100, repeats: 1, candidates: [RULE_CANDIDATE] },
    );
    // Baseline before, the rule, baseline after: each a probe (0) and the record (100 ms / 2 ms = 50).
    expect(seen).toEqual([0, 50, 0, 50, 0, 50]);
    expect(result.rows[0].timing?.warmupCalls).toBe(50);
    expect(result.baselines.map((b) => b.timing?.warmupCalls)).toEqual([50, 50]);
  });
});

describe('--warmup-ms', () => {
  it('defaults to 300 ms, 0 for the profile preset, and is recorded in the config', () => {
    const base = { seed: 1, data: 'llm' as const, accuracyRows: 128, progress: false };
    expect(DEFAULT_WARMUP_MS).toBe(300);
    expect(resolveConfig({ ...base, preset: 'paper' }).config.warmupMs).toBe(300);
    expect(resolveConfig({ ...base, preset: 'profile' }).config.warmupMs).toBe(PRESETS.profile.warmupMs);
    expect(PRESETS.profile.warmupMs).toBe(0);
    expect(resolveConfig({ ...base, preset: 'paper', warmupMs: 0 }).config.warmupMs).toBe(0);
    expect(resolveConfig({ ...base, preset: 'profile', warmupMs: 50 }).config.warmupMs).toBe(50);
  });

  it.each([['-1'], ['abc'], ['']])('refuses %j', async (value) => {
    const { code, stderr } = await runCli(['--warmup-ms', value]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/not a non-negative number/);
  });
});
