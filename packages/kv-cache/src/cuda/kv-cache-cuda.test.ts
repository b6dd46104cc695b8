// The host side of the CUDA cache against a recording fake runtime and addon (no GPU): what a decode-loop append costs
// in jobs, copies and allocations as the cache grows, and when the storage view decode reads changes. The kernels are
// tested by test/cuda.suite.ts on a device.
import { type CudaRuntime, type DeviceDType, DeviceTensor, type SubmitJob } from '@qattn/cuda-runtime';
import { describe, expect, it } from 'vitest';
import { resolveKVCacheOptions } from '../options.js';
import type { KVCacheCudaBinding } from './addon.js';
import { CudaKVCache } from './kv-cache-cuda.js';

interface Recorder {
  allocations: number;
  live: Set<bigint>;
  jobs: Array<{ what: string; uploads: number[]; launches: number; downloads: number }>;
}

function fakeRuntime(rec: Recorder): CudaRuntime {
  let next = 0x1000n;
  const runtime = {
    binding: { builtinLaunchers: { fill: 1n, copy: 2n, fail: 3n } },
    async empty<D extends DeviceDType>(dtype: D, dims: readonly number[]) {
      const pointer = (next += 0x1000n);
      rec.allocations++;
      rec.live.add(pointer);
      return new DeviceTensor(runtime as unknown as CudaRuntime, pointer, dtype, [...dims]);
    },
    async upload<D extends DeviceDType>(_host: ArrayBufferView, dtype: D, dims: readonly number[]) {
      return runtime.empty(dtype, dims);
    },
    free(pointer: bigint) {
      rec.live.delete(pointer);
    },
    fillStep: () => ({ launcher: 1n, args: new Uint8Array(32) }),
    async submit(job: SubmitJob, what: string) {
      rec.jobs.push({ what, uploads: (job.uploads ?? []).map((u) => u.host.byteLength), launches: job.launches?.length ?? 0, downloads: job.downloads?.length ?? 0 });
    },
  };
  return runtime as unknown as CudaRuntime;
}

const addon = {
  appendLauncher: 10n,
  clearLauncher: 11n,
  relayoutLauncher: 12n,
  chunkTokens: 32,
  packAppendArgs: () => new Uint8Array(8),
  packClearArgs: () => new Uint8Array(8),
  packRelayoutArgs: () => new Uint8Array(8),
} as unknown as KVCacheCudaBinding;

describe('CudaKVCache host work per decode-step append', () => {
  it('one append job with the same three uploads at every length; allocations and new storage views only when it grows', async () => {
    const rec: Recorder = { allocations: 0, live: new Set(), jobs: [] };
    const [batch, kvHeads, headDim] = [2, 2, 64];
    const config = { ...resolveKVCacheOptions({ batch, kvHeads, headDim, backend: 'cuda' }), backend: 'cuda' as const };
    const cache = await CudaKVCache.create(config, fakeRuntime(rec), addon);
    await cache.append(new Float32Array(batch * kvHeads * 100 * headDim), new Float32Array(batch * kvHeads * 100 * headDim));
    const token = new Float32Array(batch * kvHeads * headDim);
    await cache.append(token, token); // the decode-step workspace is allocated here, once
    rec.jobs.length = 0;
    const allocationsBefore = rec.allocations;
    let views = 1;
    let view = cache.deviceStorage();
    const steps = 20_000;
    for (let step = 0; step < steps; step++) {
      const jobs = rec.jobs.length;
      await cache.append(token, token);
      const appended = rec.jobs.slice(jobs).filter((j) => j.what === 'kv-cache append');
      expect(appended).toEqual([{ what: 'kv-cache append', uploads: [appended[0].uploads[0], token.byteLength, token.byteLength], launches: 2, downloads: 0 }]);
      const next = cache.deviceStorage();
      if (next !== view) views++;
      view = next;
    }
    expect(cache.length).toBe(101 + steps);
    // Every append job uploads the same plan buffer; growth (pools, page tables: 1.5× at a time) is its own job.
    expect(new Set(rec.jobs.filter((j) => j.what === 'kv-cache append').map((j) => j.uploads[0])).size).toBe(1);
    const grows = rec.jobs.filter((j) => j.what === 'kv-cache grow').length;
    expect(rec.jobs.length).toBe(steps + grows);
    expect(grows).toBeGreaterThan(0);
    expect(grows).toBeLessThanOrEqual(2 * Math.ceil(Math.log(steps) / Math.log(1.5)));
    // What a growth allocates: new pools (4 tensors per pool of K and V) and page tables (2 per tensor).
    expect(rec.allocations - allocationsBefore).toBeLessThanOrEqual(grows * 12);
    expect(views).toBeLessThanOrEqual(grows + 1);
    expect(views).toBeGreaterThan(1);
    cache.dispose();
    expect(rec.live.size).toBe(0);
  });
});
