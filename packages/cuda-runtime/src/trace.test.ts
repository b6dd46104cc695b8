// The stage-trace summary and CudaRuntime's trace API against a fake binding (no GPU); runtime.suite.ts traces real
// jobs on a device.
import { describe, expect, it } from 'vitest';
import type { Binding, NativeTrace } from './binding.js';
import { CudaRuntime } from './runtime.js';
import { CUDA_TRACE_STAGES, summarizeTrace } from './trace.js';

const DEVICE = {
  name: 'fake',
  computeCapability: [9, 0] as [number, number],
  multiProcessorCount: 1,
  totalGlobalMem: 0,
  sharedMemPerBlockOptin: 0,
  l2CacheSize: 0,
  runtimeVersion: 13000,
  driverVersion: 13000,
};

/** Records of `rows` (one array of stage values per job, NaN where unreached) under `labels`. */
function raw(labels: string[], rows: Array<[number, number[]]>, dropped = 0): NativeTrace {
  return {
    stages: [...CUDA_TRACE_STAGES],
    labels,
    label: Uint32Array.from(rows.map(([label]) => label)),
    values: Float64Array.from(rows.flatMap(([, values]) => values)),
    dropped,
  };
}

describe('summarizeTrace', () => {
  it('gives the median and p90 of every stage per label, skipping stages a job did not reach', () => {
    const launch = (total: number) => [1, 2, 1, total - 8, total - 10, 4, total];
    const free = [3, 1, NaN, NaN, NaN, NaN, NaN];
    const rows: Array<[number, number[]]> = [];
    for (let i = 1; i <= 11; i++) rows.push([0, launch(10 * i + 10)], [1, free]);
    const summary = summarizeTrace(raw(['decode', 'free'], rows, 2));
    expect(summary.jobs).toBe(22);
    expect(summary.dropped).toBe(2);
    const [decode, freed] = summary.labels;
    expect(decode.label).toBe('decode');
    expect(decode.jobs).toBe(11);
    // totals 20, 30, …, 120: median 70, p90 at position 9 of 10 = 110.
    expect(decode.stages.total).toEqual({ count: 11, medianUs: 70, p90Us: 110 });
    expect(decode.stages.queue).toEqual({ count: 11, medianUs: 1, p90Us: 1 });
    expect(decode.stages.device?.medianUs).toBe(60);
    expect(freed).toEqual({ label: 'free', jobs: 11, stages: { queue: { count: 11, medianUs: 3, p90Us: 3 }, enqueue: { count: 11, medianUs: 1, p90Us: 1 } } });
  });

  it('interpolates between neighbours and handles a single job', () => {
    const summary = summarizeTrace(raw(['a'], [[0, [1, 1, 1, 1, 1, 1, 5]], [0, [1, 1, 1, 1, 1, 1, 6]]]));
    expect(summary.labels[0].stages.total).toEqual({ count: 2, medianUs: 5.5, p90Us: 5.9 });
    expect(summarizeTrace(raw(['b'], [[0, [2, 2, 2, 2, 2, 2, 2]]])).labels[0].stages.settle).toEqual({ count: 1, medianUs: 2, p90Us: 2 });
  });

  it('refuses an addon whose stages differ (a stale build)', () => {
    expect(() => summarizeTrace({ ...raw(['a'], []), stages: ['queue', 'total'] })).toThrowError(/rebuild it/);
  });
});

describe('CudaRuntime trace API', () => {
  it('passes each job’s label to the binding, switches the trace and drains the records', async () => {
    const calls: Array<[string, string | undefined]> = [];
    let enabled = false;
    let pending: NativeTrace = raw(['decode'], [[0, [1, 2, 3, 4, 5, 6, 21]]]);
    const binding = {
      launch: async (_l: bigint, _a: Uint8Array, label?: string) => void calls.push(['launch', label]),
      submit: async (_job: unknown, label?: string) => void calls.push(['submit', label]),
      time: async (_l: bigint, _a: Uint8Array, _w: number, _r: number, label?: string) => (calls.push(['time', label]), [1]),
      tracing: () => enabled,
      setTrace: (on: boolean) => {
        enabled = on;
      },
      traceTake: () => {
        const out = pending;
        pending = raw([], []);
        return out;
      },
    } as unknown as Binding;
    const rt = new CudaRuntime(binding, DEVICE);
    await rt.launch(1n, new Uint8Array(1), 'turboDecode cuda');
    await rt.submit({}, 'flash-int8 attention');
    await rt.time(1n, new Uint8Array(1), 'timing', 0, 1);
    expect(calls).toEqual([
      ['launch', 'turboDecode cuda'],
      ['submit', 'flash-int8 attention'],
      ['time', 'timing'],
    ]);
    expect(rt.tracing).toBe(false);
    rt.setTracing(true);
    expect(rt.tracing).toBe(true);
    const summary = rt.traceSummary();
    expect(summary.labels.map((l) => [l.label, l.jobs, l.stages.total?.medianUs])).toEqual([['decode', 1, 21]]);
    expect(rt.traceSummary()).toEqual({ jobs: 0, dropped: 0, labels: [] });
  });

  it('an addon without the trace is never tracing, summarizes nothing, and cannot be switched on', () => {
    const rt = new CudaRuntime({} as Binding, DEVICE);
    expect(rt.tracing).toBe(false);
    expect(rt.traceSummary()).toEqual({ jobs: 0, dropped: 0, labels: [] });
    expect(() => rt.setTracing(true)).toThrow(expect.objectContaining({ code: 'ERR_QATTN_BACKEND_UNAVAILABLE' }));
  });
});
