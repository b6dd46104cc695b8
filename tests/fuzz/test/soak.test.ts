// The soak's short run (200 calls and a burst, cpu and the software adapter), and proof that its checks find leaks.
import { acquireGpu, BufferUsage, gpuForTests } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { type Backend, runSoak } from '../src/index.js';

const { context } = await gpuForTests();
const backends: Backend[] = context ? ['cpu', 'webgpu'] : ['cpu'];

describe(`soak on ${backends.join(', ')}`, () => {
  it('200 calls and a burst of 24 concurrent ones: every call answers, nothing is left behind', async () => {
    const report = await runSoak({ calls: 200, backends, bursts: 1, burstSize: 24 });
    expect(report.failureMessages).toEqual([]);
    expect(report.failures).toBe(0);
    expect(report.burstCalls).toBe(24);
    const names = report.metrics.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['RSS', 'JS heap (after GC)', ...(context ? ['webgpu live buffers', 'webgpu buffer memory'] : [])]));
    expect(report.metrics.filter((m) => !m.ok)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it.skipIf(!context)('reports a WebGPU buffer that a call leaves behind', async () => {
    const report = await runSoak({
      calls: 30,
      backends: ['webgpu'],
      bursts: 0,
      burstSize: 2,
      afterCall: async () => {
        (await acquireGpu()).device.createBuffer({ size: 256, usage: BufferUsage.STORAGE, label: 'leaked by the test' });
      },
    });
    const live = report.metrics.find((m) => m.name === 'webgpu live buffers');
    expect(live && live.after - live.before).toBe(30);
    expect(live?.ok).toBe(false);
    expect(report.ok).toBe(false);
  });

  it('reports JS memory that calls keep alive', async () => {
    const retained: number[][] = [];
    const report = await runSoak({
      calls: 30,
      backends: ['cpu'],
      bursts: 0,
      burstSize: 2,
      // 30 × 2.4 MB of numbers on the JS heap: past the 32 MiB heap slack.
      afterCall: () => {
        retained.push(new Array(300_000).fill(retained.length + 0.5));
      },
    });
    const heap = report.metrics.find((m) => m.name === 'JS heap (after GC)');
    expect(heap?.ok).toBe(false);
    expect(report.ok).toBe(false);
    expect(retained).toHaveLength(30);
  });
});
