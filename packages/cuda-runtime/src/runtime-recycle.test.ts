// The runtime's reuse of freed small blocks (CudaRuntime.free / empty) against a counting fake addon: a loop that
// allocates and frees its outputs each call makes no addon call for them once warm, and nothing leaks or is counted live.
import { describe, expect, it } from 'vitest';
import type { Binding } from './binding.js';
import { CudaRuntime } from './runtime.js';

function countingRuntime(options: { failAllocAbove?: number } = {}) {
  const calls: string[] = [];
  const live = new Map<bigint, number>();
  let next = 0x4000_0000n;
  const binding = {
    async alloc(bytes: number) {
      calls.push(`alloc ${bytes}`);
      if (options.failAllocAbove !== undefined && bytes + [...live.values()].reduce((a, b) => a + b, 0) > options.failAllocAbove) {
        throw Object.assign(new Error('out of memory'), { cudaStatus: 2 });
      }
      const pointer = (next += 0x1_0000n);
      live.set(pointer, bytes);
      return pointer;
    },
    free(pointer: bigint) {
      calls.push('free');
      return live.delete(pointer);
    },
    async trimCaches() {},
    liveBuffers: () => live.size,
  } as unknown as Binding;
  const info = { name: 'fake', computeCapability: [9, 0] as [number, number], multiProcessorCount: 1, totalGlobalMem: 0, sharedMemPerBlockOptin: 0, l2CacheSize: 0, runtimeVersion: 13000, driverVersion: 13000 };
  return { runtime: new CudaRuntime(binding, info), calls, live };
}

describe('CudaRuntime: freed small blocks are reused without an addon call', () => {
  it('out/lse allocated and disposed per step: two allocs in all, not two allocs and two frees per step', async () => {
    const { runtime, calls } = countingRuntime();
    const pointers = new Set<bigint>();
    for (let step = 0; step < 100; step++) {
      const out = await runtime.empty('float32', [4, 32, 1, 128]);
      const lse = await runtime.empty('float32', [4, 32, 1]);
      pointers.add(out.pointer).add(lse.pointer);
      expect(out.pointer).not.toBe(lse.pointer);
      out.dispose();
      lse.dispose();
    }
    expect(calls).toEqual(['alloc 65536', 'alloc 512']);
    expect(pointers.size).toBe(2);
    expect(runtime.liveBuffers()).toBe(0);
  });

  it('a reused block goes to a tensor of the same byte size only; releaseCaches frees what is kept', async () => {
    const { runtime, calls, live } = countingRuntime();
    const a = await runtime.empty('int32', [16]);
    const pointer = a.pointer;
    a.dispose();
    expect(runtime.liveBuffers()).toBe(0);
    const other = await runtime.empty('int32', [17]);
    expect(other.pointer).not.toBe(pointer);
    const same = await runtime.empty('uint8', [64]); // 64 bytes, as the int32 [16]
    expect(same.pointer).toBe(pointer);
    expect(same.byteLength).toBe(64);
    expect(runtime.liveBuffers()).toBe(2);
    same.dispose();
    other.dispose();
    expect(calls.filter((c) => c === 'free')).toEqual([]);
    await runtime.releaseCaches();
    expect(calls.filter((c) => c === 'free').length).toBe(2);
    expect(live.size).toBe(0);
  });

  it('large blocks go back to the addon at once', async () => {
    const { runtime, calls } = countingRuntime();
    const big = await runtime.empty('float32', [1 << 19]); // 2 MiB
    big.dispose();
    expect(calls).toEqual([`alloc ${2 << 20}`, 'free']);
  });

  it('out of memory with kept blocks: they are freed and the allocation tried once more', async () => {
    const { runtime, calls } = countingRuntime({ failAllocAbove: 1000 });
    const small = await runtime.empty('uint8', [600]);
    small.dispose();
    const t = await runtime.empty('uint8', [700]);
    expect(calls).toEqual(['alloc 600', 'alloc 700', 'free', 'alloc 700']);
    expect(runtime.liveBuffers()).toBe(1);
    t.dispose();
    await expect(runtime.empty('uint8', [2000])).rejects.toMatchObject({ code: 'ERR_QATTN_DEVICE' });
  });
});
