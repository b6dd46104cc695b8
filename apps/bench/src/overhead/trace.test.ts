import type { CudaTraceSummary } from '@qattn/cuda-runtime';
import { describe, expect, it } from 'vitest';
import type { CellShape } from '../metrics.js';
import { measureSubject, type OverheadSubject } from './run.js';
import { formatTrace, openTraceWindow } from './trace.js';

const stats = (medianUs: number, p90Us: number, count = 3) => ({ count, medianUs, p90Us });
const summary: CudaTraceSummary = {
  jobs: 6,
  dropped: 0,
  labels: [
    {
      label: 'turboDecode cuda',
      jobs: 3,
      stages: { queue: stats(0.8, 1.2), enqueue: stats(9, 10), handoff: stats(0.5, 0.7), wait: stats(30, 31), device: stats(25, 26), settle: stats(12, 20), total: stats(53, 60) },
    },
    { label: 'free', jobs: 3, stages: { queue: stats(1, 2), enqueue: stats(0.4, 0.5) } },
  ],
};

describe('the stage trace in the bench', () => {
  it('prints one line per job label, median/p90 per stage, - where a job never reached a stage', () => {
    const text = formatTrace('turbo-attn int4 B4 H32/8 D128 device-resident steps, 3 calls', summary);
    const lines = text.split('\n');
    expect(lines[0]).toBe('cuda trace: turbo-attn int4 B4 H32/8 D128 device-resident steps, 3 calls: 6 jobs, median/p90 µs per stage');
    expect(lines[1].trim().split(/\s+/)).toEqual(['job', 'jobs', 'queue', 'enqueue', 'handoff', 'wait', 'device', 'settle', 'total']);
    expect(lines[2].trim().split(/\s{2,}/)).toEqual(['turboDecode cuda', '3', '0.8/1.2', '9.0/10.0', '0.5/0.7', '30.0/31.0', '25.0/26.0', '12.0/20.0', '53.0/60.0']);
    expect(lines[3].trim().split(/\s+/)).toEqual(['free', '3', '1.0/2.0', '0.4/0.5', '-', '-', '-', '-', '-']);
    expect(formatTrace('x', { ...summary, dropped: 7 })).toMatch(/6 jobs \(7 records dropped\)/);
  });

  it('opens a window only on a runtime that traces, forgetting what came before', () => {
    expect(openTraceWindow(undefined)).toBeUndefined();
    expect(openTraceWindow({ tracing: false, traceSummary: () => summary })).toBeUndefined();
    expect(openTraceWindow({ synchronize() {} })).toBeUndefined();
    let taken = 0;
    const window = openTraceWindow({ tracing: true, traceSummary: () => (taken++, summary) });
    expect(taken).toBe(1);
    expect(window?.take()).toBe(summary);
    expect(taken).toBe(2);
  });

  it('the overhead runner hands each entry’s trace of its timed calls to the sink', async () => {
    const shape: CellShape = { batch: 1, heads: 2, kvHeads: 2, seqQ: 64, seqKV: 64, headDim: 64, causal: false };
    let calls = 0;
    let windows = 0;
    const subject: OverheadSubject = {
      algorithm: 'turbo-attn',
      backend: 'cuda',
      availability: async () => ({ available: true }),
      prepareDevice: async () => ({ call: async () => void calls++, dispose: () => undefined }),
      prepareTyped: async () => ({ call: async () => void calls++, dispose: () => undefined }),
      kernelTime: async () => ({ medianMs: 0.01, minMs: 0.01, samplesMs: [0.01], timer: 'events' }),
      memory: async () => ({ rssBytes: 0 }),
      releaseCaches: async () => undefined,
      traceWindow: () => {
        windows++;
        const from = calls;
        return { take: () => ({ ...summary, jobs: calls - from }) };
      },
    };
    const traced: Array<[string, number]> = [];
    await measureSubject(subject, shape, () => ({ q: new Float32Array(1), k: new Float32Array(1), v: new Float32Array(1) }), { warmup: 2, calls: 5, kernelRepeats: 1 }, performance.now.bind(performance), (title, s) =>
      traced.push([title, s.jobs]),
    );
    expect(windows).toBe(2);
    expect(traced).toEqual([
      ['turbo-attn cuda B1 H2 N64 D64 device, 5 calls', 5],
      ['turbo-attn cuda B1 H2 N64 D64 typed, 5 calls', 5],
    ]);
  });
});
