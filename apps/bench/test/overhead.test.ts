import Ajv from 'ajv';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackendAvailability, InputTensors, Timing } from '../src/algorithms.js';
import type { CellShape } from '../src/metrics.js';
import { measureSubject, type OverheadSubject, runOverhead } from '../src/overhead/run.js';
import { callStats, hostOverheadUs, LEAK_LIMITS, leakCheck, type MemorySnapshot, overheadVerdict, quantile } from '../src/overhead/stats.js';
import { overheadNotes, overheadRows, overheadSummary } from '../src/report/overhead.js';
import type { BenchReport } from '../src/report/report.js';
import { benchRoot, runCli } from './helpers.js';

const schema = JSON.parse(readFileSync(join(benchRoot, 'schema/bench-report.schema.json'), 'utf8')) as object;
const tiny: CellShape = { batch: 1, heads: 2, kvHeads: 2, seqQ: 64, seqKV: 64, headDim: 64, causal: false };
const MiB = 2 ** 20;

describe('statistics of per-call wall times', () => {
  it('interpolates quantiles and converts milliseconds to microseconds', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10], 0.9)).toBe(10);
    expect(quantile([0, 10], 0.1)).toBeCloseTo(1, 12);
    const stats = callStats([0.05, 0.01, 0.03, 0.02, 0.04]);
    expect(stats).toEqual({ calls: 5, medianUs: 30, meanUs: 30, p10Us: 14, p90Us: 46, minUs: 10, maxUs: 50 });
    expect(() => callStats([])).toThrow(RangeError);
  });

  it('takes host overhead as wall median minus kernel median, never below zero', () => {
    const wall = callStats([0.1, 0.1, 0.1]);
    expect(hostOverheadUs(wall, 60)).toBeCloseTo(40, 10);
    expect(hostOverheadUs(wall, 130)).toBe(0);
  });

  it('judges overhead against the cuda targets of issue 8 and reports webgpu without a target', () => {
    expect(overheadVerdict('cuda', 'device', 39.9)).toEqual({ targetUs: 40, pass: true });
    expect(overheadVerdict('cuda', 'device', 40.1)).toEqual({ targetUs: 40, pass: false });
    expect(overheadVerdict('cuda', 'typed', 150)).toEqual({ targetUs: 150, pass: true });
    expect(overheadVerdict('webgpu', 'typed', 5000)).toEqual({});
  });
});

describe('leak check', () => {
  const base: MemorySnapshot = { liveBuffers: 10, deviceFreeBytes: 1000 * MiB, rssBytes: 200 * MiB };
  it('passes when nothing grows beyond the limits', () => {
    const check = leakCheck(10_000, base, { liveBuffers: 10, deviceFreeBytes: 998 * MiB, rssBytes: 220 * MiB });
    expect(check).toMatchObject({ calls: 10_000, liveBuffersDelta: 0, deviceBytesDelta: 2 * MiB, rssBytesDelta: 20 * MiB, pass: true, failures: [] });
  });

  it('fails on one more live buffer, lost device memory or RSS growth, naming each', () => {
    const check = leakCheck(10_000, base, { liveBuffers: 11, deviceFreeBytes: 900 * MiB, rssBytes: 300 * MiB });
    expect(check.pass).toBe(false);
    expect(check.failures).toEqual([
      '1 more live device buffers after 10000 calls',
      '100.0 MiB less free device memory over 10000 calls (limit 8.0 MiB)',
      'RSS grew 100.0 MiB over 10000 calls (limit 32.0 MiB)',
    ]);
  });

  it('judges memory over the second half: a pool that reaches its high-water mark early is not a leak, steady growth is', () => {
    const plateau = leakCheck(10_000, base, { ...base, rssBytes: 260 * MiB }, LEAK_LIMITS, { ...base, rssBytes: 258 * MiB });
    expect(plateau).toMatchObject({ rssBytesDelta: 60 * MiB, rssBytesDeltaSecondHalf: 2 * MiB, pass: true });
    const steady = leakCheck(10_000, base, { ...base, deviceFreeBytes: 700 * MiB, rssBytes: 360 * MiB }, LEAK_LIMITS, { ...base, deviceFreeBytes: 850 * MiB, rssBytes: 280 * MiB });
    expect(steady.failures).toEqual([
      '150.0 MiB less free device memory over the last 5000 of 10000 calls (limit 8.0 MiB)',
      'RSS grew 80.0 MiB over the last 5000 of 10000 calls (limit 32.0 MiB)',
    ]);
  });

  it('compares only RSS when the backend reports no device memory (WebGPU)', () => {
    const check = leakCheck(5, { rssBytes: 100 }, { rssBytes: 100 + LEAK_LIMITS.rssBytes });
    expect(check.liveBuffersDelta).toBeUndefined();
    expect(check.deviceBytesDelta).toBeUndefined();
    expect(check.pass).toBe(true);
  });
});

interface FakeOptions {
  /** Wall time of one call in ms, per entry. */
  deviceMs?: number;
  typedMs?: number;
  kernelMs?: number;
  /** Device buffers leaked per device call. */
  leakPerCall?: number;
  noDeviceEntry?: boolean;
  available?: BackendAvailability;
  releasable?: boolean;
}

/** A subject whose calls advance a fake clock and whose memory is a counter. */
function fakeSubject(options: FakeOptions, clock: { now: number }): OverheadSubject & { live: number } {
  const subject = {
    algorithm: 'flash-int8-pv-int8' as const,
    backend: 'cuda' as const,
    live: 0,
    cached: 0,
    availability: async () => options.available ?? { available: true },
    async prepareDevice(_inputs: InputTensors) {
      if (options.noDeviceEntry) throw Object.assign(new Error('no device entry'), { code: 'ERR_BENCH_NO_API' });
      subject.live += 3;
      subject.cached = 2; // a plan built on the first call stays cached
      return {
        call: async () => {
          clock.now += options.deviceMs ?? 0.05;
          subject.live += options.leakPerCall ?? 0;
        },
        dispose: () => void (subject.live -= 3),
      };
    },
    async prepareTyped() {
      return { call: async () => void (clock.now += options.typedMs ?? 0.12), dispose: () => undefined };
    },
    async kernelTime(): Promise<Timing> {
      const ms = options.kernelMs ?? 0.02;
      return { medianMs: ms, minMs: ms, samplesMs: [ms], quantMs: ms / 4, attnMs: (3 * ms) / 4, timer: 'events' };
    },
    async memory(): Promise<MemorySnapshot> {
      return { liveBuffers: subject.live + subject.cached, deviceFreeBytes: 1000 * MiB, rssBytes: 100 * MiB };
    },
    async releaseCaches() {
      if (!options.releasable) return undefined;
      subject.cached = 0;
      return 'fake.releaseCaches()';
    },
  };
  return subject;
}

const inputs = () => ({ q: new Float32Array(1), k: new Float32Array(1), v: new Float32Array(1) });
const settings = { warmup: 2, calls: 50, kernelRepeats: 5 };

describe('measureSubject', () => {
  it('measures both entries, subtracts the kernel time and passes within the targets', async () => {
    const clock = { now: 0 };
    const row = await measureSubject(fakeSubject({ deviceMs: 0.05, typedMs: 0.12, kernelMs: 0.02, releasable: true }, clock), tiny, inputs, settings, () => clock.now);
    expect(row.status).toBe('ok');
    expect(row.kernel).toEqual({ medianUs: 20, quantUs: 5, attnUs: 15, timer: 'events' });
    const [device, typed] = row.entries;
    expect(device.wall!.calls).toBe(50);
    expect(device.hostOverheadUs).toBeCloseTo(30, 6);
    expect(device).toMatchObject({ entry: 'device', targetUs: 40, pass: true, leak: { liveBuffersDelta: 0, pass: true } });
    expect(typed.hostOverheadUs).toBeCloseTo(100, 6);
    expect(typed).toMatchObject({ entry: 'typed', targetUs: 150, pass: true });
    // Inputs freed and caches released: back to where the row started.
    expect(row.final).toMatchObject({ released: 'fake.releaseCaches()', leak: { liveBuffersDelta: 0, pass: true } });
    expect(row.pass).toBe(true);
  });

  it('fails a row whose device entry is over its target or leaks a buffer per call', async () => {
    const clock = { now: 0 };
    const row = await measureSubject(fakeSubject({ deviceMs: 0.273, leakPerCall: 1 }, clock), tiny, inputs, settings, () => clock.now);
    const device = row.entries[0];
    expect(device.pass).toBe(false);
    expect(device.leak!.liveBuffersDelta).toBe(50);
    expect(device.leak!.pass).toBe(false);
    expect(row.pass).toBe(false);
    expect(overheadNotes({ settings, targets: {}, limits: LEAK_LIMITS, rows: [row] })).toContain(
      'flash-int8-pv-int8 cuda device: leak: 50 more live device buffers after 50 calls',
    );
  });

  it('fails a row whose inputs stay allocated after everything was released', async () => {
    const clock = { now: 0 };
    const subject = fakeSubject({ releasable: true }, clock);
    const prepare = subject.prepareDevice.bind(subject);
    subject.prepareDevice = async (inputs, shape) => ({ ...(await prepare(inputs, shape)), dispose: () => undefined });
    const row = await measureSubject(subject, tiny, inputs, settings, () => clock.now);
    expect(row.entries[0].leak!.pass).toBe(true);
    expect(row.final!.leak).toMatchObject({ liveBuffersDelta: 3, pass: false });
    expect(row.pass).toBe(false);
  });

  it('without a way to release caches, judges nothing at the end (cached plans are not a leak)', async () => {
    const clock = { now: 0 };
    const row = await measureSubject(fakeSubject({}, clock), tiny, inputs, settings, () => clock.now);
    expect(row.final!.released).toBeUndefined();
    expect(row.final!.leak.liveBuffersDelta).toBeUndefined();
    expect(row.pass).toBe(true);
  });

  it('reports a package without a device entry as unsupported and still measures the typed entry', async () => {
    const clock = { now: 0 };
    const row = await measureSubject(fakeSubject({ noDeviceEntry: true }, clock), tiny, inputs, settings, () => clock.now);
    expect(row.entries.map((e) => e.status)).toEqual(['unsupported', 'ok']);
    expect(row.pass).toBe(true);
  });

  it('marks an unavailable backend without measuring anything', async () => {
    const clock = { now: 0 };
    const row = await measureSubject(fakeSubject({ available: { available: false, reason: 'no CUDA device' } }, clock), tiny, inputs, settings, () => clock.now);
    expect(row).toMatchObject({ status: 'unavailable', error: { code: 'ERR_QATTN_BACKEND_UNAVAILABLE', message: 'no CUDA device' }, entries: [] });
    expect(row.pass).toBeUndefined();
  });
});

describe('overhead table', () => {
  it('has one row per entry with pass/FAIL, and one row for an unavailable backend', async () => {
    const clock = { now: 0 };
    const report = await runOverhead([tiny], settings, {
      subjects: [fakeSubject({ deviceMs: 0.05, releasable: true }, clock), { ...fakeSubject({ available: { available: false, reason: 'no adapter' } }, clock), backend: 'webgpu' }],
      inputs,
      now: () => clock.now,
    });
    const rows = overheadRows(report);
    expect(rows).toHaveLength(3);
    expect(rows[0].slice(0, 5)).toEqual(['flash-int8-pv-int8', 'cuda', 'B1 H2 N64 D64', 'device', '50']);
    expect(rows[0].slice(7, 11)).toEqual(['20', '30', '≤ 40', 'pass']);
    expect(rows[0].slice(11)).toEqual(['+0', '+0.0 (+0.0)', '+0.0 (+0.0)', 'pass']);
    expect(rows[2][1]).toBe('webgpu');
    expect(rows[2][10]).toBe('unavailable');
    expect(overheadSummary(report)).toMatch(/targets cuda: device ≤ 40 µs, typed ≤ 150 µs; 1 of 1 measured rows pass$/);
  });
});

describe('qattn-bench --preset overhead', () => {
  it('runs (or says no GPU backend loads here) and writes a report that validates against the schema', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qattn-overhead-'));
    const out = join(dir, 'o.json');
    const { code, stdout, stderr } = await runCli(['--preset', 'overhead', '--backends', 'cuda', '--calls', '3', '--warmup', '1', '--repeats', '2', '--no-progress', '--json', out]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(report.config).toMatchObject({ preset: 'overhead', mode: 'overhead', calls: 3, algorithms: ['flash-int8-pv-int8', 'turbo-attn'] });
    expect(report.cells).toEqual([]);
    expect(report.overhead!.rows.map((r) => `${r.algorithm} ${r.backend}`)).toEqual(['flash-int8-pv-int8 cuda', 'turbo-attn cuda']);
    if (report.overhead!.rows.every((r) => r.status === 'unavailable')) expect(stdout).toMatch(/overhead: no GPU backend loads here, nothing to measure/);
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    expect(validate(report), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('refuses a cpu-only run with a usage error', async () => {
    const { code, stderr } = await runCli(['--preset', 'overhead', '--backends', 'cpu']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/the overhead preset measures GPU backends/);
  });
});
