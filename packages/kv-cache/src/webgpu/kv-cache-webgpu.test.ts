/// <reference types="@webgpu/types" />
import { isQattnError } from '@qattn/quant-core';
import { compare } from '@qattn/reference';
import { gpuForTests } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { CpuKVCache } from '../cpu/kv-cache-cpu.js';
import { type KVCacheStorage, tokenPlacement } from '../layout.js';
import { type KVCacheOptions, resolveKVCacheOptions } from '../options.js';
import { llmKV, sliceTokens } from '../test-helpers.js';
import { WebGpuKVCache } from './kv-cache-webgpu.js';

// Fails instead of skipping under CI=true / QATTN_EXPECT_WEBGPU=1 (gpuForTests throws there).
const gpu = (await gpuForTests()).context;

/**
 * Agreement with the CPU cache on the same appends. The kernels run the CPU's math in f32 where the CPU uses float64
 * (rotation, x / s, code · s_t / s_b), so a value within float rounding of a rounding tie may land one INT8 code
 * apart, and a flipped code can move a page column's min/max and with it that column's step; the progressive
 * compression itself is exact integer arithmetic, and page tables and head widths must match exactly. Measured on
 * lavapipe (LLM-like data, hd 128, 1000 tokens; and the cases below): INT4 and INT4/2 page bytes identical to the
 * CPU's, INT8 pages 2–4·10⁻⁶ of bytes differ (by one code), read() within 4·10⁻⁵ relative L2.
 * Bounds: 0.1% of page bytes, 0.5% of buffer codes with |Δ| ≤ 1, 2e-3 relative L2 of what read() returns.
 */
const PAGE_MISMATCH_SHARE = 1e-3;
const CODE_MISMATCH_SHARE = 5e-3;
const READ_AGREEMENT = 2e-3;

function both(options: Partial<KVCacheOptions> & Pick<KVCacheOptions, 'batch' | 'kvHeads' | 'headDim'>) {
  if (!gpu) throw new Error('unreachable: suite skipped without a device');
  const config = resolveKVCacheOptions(options);
  return { cpu: new CpuKVCache({ ...config, backend: 'cpu' }), gpu: new WebGpuKVCache(gpu, { ...config, backend: 'webgpu' }) };
}

function bytesMismatch(a: ArrayLike<number>, b: ArrayLike<number>): { share: number; maxDiff: number } {
  let differ = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      differ++;
      maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    }
  }
  return { share: a.length === 0 ? 0 : differ / a.length, maxDiff };
}

function expectSameLayout(cpu: KVCacheStorage, device: KVCacheStorage): void {
  expect(Array.from(device.lengths)).toEqual(Array.from(cpu.lengths));
  expect(compare(device.kMean, Float64Array.from(cpu.kMean)).relL2).toBeLessThan(1e-5);
  for (const name of ['k', 'v'] as const) {
    expect(compare(device[name].sink, Float64Array.from(cpu[name].sink)).relL2).toBeLessThan(1e-6);
    // Only the live buffer rows: the CPU passes every token through its buffer, the device only the ones that stay.
    const { batch, kvHeads, headDim, pageSize, sinkTokens } = cpu.config;
    const live = (codes: Int8Array) => {
      const rows: number[] = [];
      for (let b = 0; b < batch; b++) {
        const buffered = tokenPlacement(cpu.lengths[b], sinkTokens, pageSize).bufferTokens;
        for (let g = 0; g < kvHeads; g++) rows.push(...codes.subarray((b * kvHeads + g) * pageSize * headDim, ((b * kvHeads + g) * pageSize + buffered) * headDim));
      }
      return rows;
    };
    const buffer = bytesMismatch(live(cpu[name].bufferCodes), live(device[name].bufferCodes));
    expect(buffer.share).toBeLessThanOrEqual(CODE_MISMATCH_SHARE);
    expect(buffer.maxDiff).toBeLessThanOrEqual(1);
    expect(Array.from(device[name].pageTable)).toEqual(Array.from(cpu[name].pageTable));
    expect(Array.from(device[name].pageBits)).toEqual(Array.from(cpu[name].pageBits));
    for (const [bits, pool] of Object.entries(cpu[name].pools)) {
      const other = device[name].pools[Number(bits) as 8 | 4 | 2];
      if (!other) throw new Error(`no ${bits}-bit pool on the device`);
      const slots = Math.min(pool.codes.length / pool.wordsPerPage, other.codes.length / other.wordsPerPage);
      const usedBytes = (x: Uint32Array) => new Uint8Array(x.buffer, x.byteOffset, slots * pool.wordsPerPage * 4);
      expect(bytesMismatch(usedBytes(pool.codes), usedBytes(other.codes)).share).toBeLessThanOrEqual(PAGE_MISMATCH_SHARE);
      expect(bytesMismatch(pool.step.subarray(0, slots * pool.metaPerPage), other.step.subarray(0, slots * pool.metaPerPage)).share).toBeLessThanOrEqual(PAGE_MISMATCH_SHARE);
    }
  }
}

describe.skipIf(!gpu)('WebGpuKVCache (lavapipe in CI)', () => {
  const cases: Array<[string, Partial<KVCacheOptions> & Pick<KVCacheOptions, 'batch' | 'kvHeads' | 'headDim'>, number[]]> = [
    ['int4, prompt then steps', { batch: 1, kvHeads: 2, headDim: 64, pageSize: 16, sinkTokens: 4 }, [37, 1, 1, 1, 20]],
    ['int8, hd128', { batch: 1, kvHeads: 2, headDim: 128, pageSize: 16, sinkTokens: 4, bits: 8 }, [50, 1, 16]],
    ['int4/2 mixed, no sinks', { batch: 1, kvHeads: 4, headDim: 32, pageSize: 16, sinkTokens: 0, lowBitFraction: { k: 0.5, v: 0.25 } }, [70, 3]],
    ['no rotation, fixed capacity', { batch: 1, kvHeads: 1, headDim: 16, pageSize: 16, sinkTokens: 2, hadamard: false, capacity: 80 }, [10, 40, 30]],
  ];
  for (const [name, options, chunks] of cases) {
    it(`matches the CPU cache: ${name}`, async () => {
      const caches = both(options);
      const total = chunks.reduce((a, b) => a + b, 0);
      const { k, v } = llmKV(1, options.kvHeads, total, options.headDim, 3);
      let from = 0;
      for (const tokens of chunks) {
        const kc = sliceTokens(k, options.kvHeads, total, options.headDim, from, from + tokens);
        const vc = sliceTokens(v, options.kvHeads, total, options.headDim, from, from + tokens);
        caches.cpu.append(kc, vc);
        caches.gpu.append(kc, vc);
        from += tokens;
      }
      const cpu = caches.cpu.storage();
      const device = await caches.gpu.downloadStorage();
      expectSameLayout(cpu, device);
      expect(caches.gpu.memory().tokens).toEqual(caches.cpu.memory().tokens);
      expect(caches.gpu.memory().pages).toEqual(caches.cpu.memory().pages);
      const expected = caches.cpu.read(0);
      const actual = await caches.gpu.readAsync(0);
      expect(compare(actual.k, Float64Array.from(expected.k)).relL2).toBeLessThan(READ_AGREEMENT);
      expect(compare(actual.v, Float64Array.from(expected.v)).relL2).toBeLessThan(READ_AGREEMENT);
      caches.gpu.dispose();
    });
  }

  it('appends every sequence at once or one sequence at a time, and clears', async () => {
    const caches = both({ batch: 3, kvHeads: 2, headDim: 32, pageSize: 16, sinkTokens: 4 });
    const { k, v } = llmKV(3, 2, 40, 32, 5);
    caches.cpu.append(k, v);
    caches.gpu.append(k, v);
    const one = llmKV(1, 2, 9, 32, 6);
    caches.cpu.append(one.k, one.v, { sequence: 1 });
    caches.gpu.append(one.k, one.v, { sequence: 1 });
    expect(caches.gpu.lengths).toEqual([40, 49, 40]);
    expectSameLayout(caches.cpu.storage(), await caches.gpu.downloadStorage());
    caches.cpu.clear(1);
    caches.gpu.clear(1);
    caches.cpu.append(one.k, one.v, { sequence: 1 });
    caches.gpu.append(one.k, one.v, { sequence: 1 });
    expectSameLayout(caches.cpu.storage(), await caches.gpu.downloadStorage());
    for (const b of [0, 1, 2]) {
      const expected = caches.cpu.read(b);
      const actual = await caches.gpu.readAsync(b);
      expect(compare(actual.k, Float64Array.from(expected.k)).relL2).toBeLessThan(READ_AGREEMENT);
    }
    caches.gpu.dispose();
  });

  it('takes GPUBuffer inputs with { tokens }', async () => {
    if (!gpu) return;
    const caches = both({ batch: 1, kvHeads: 2, headDim: 16, pageSize: 16, sinkTokens: 4 });
    const { k, v } = llmKV(1, 2, 25, 16, 7);
    const upload = (x: Float32Array) => {
      const buffer = gpu.device.createBuffer({ size: x.byteLength, usage: 0x80 | 0x08 });
      gpu.device.queue.writeBuffer(buffer, 0, x as Float32Array<ArrayBuffer>);
      return buffer;
    };
    const kb = upload(k);
    const vb = upload(v);
    caches.cpu.append(k, v);
    caches.gpu.append(kb, vb, { tokens: 25 });
    expectSameLayout(caches.cpu.storage(), await caches.gpu.downloadStorage());
    kb.destroy();
    vb.destroy();
    caches.gpu.dispose();
  });

  it('rejects bad input and leaves the cache exactly as it was', async () => {
    const caches = both({ batch: 2, kvHeads: 2, headDim: 16, pageSize: 16, sinkTokens: 4, capacity: 40 });
    const { k, v } = llmKV(2, 2, 30, 16, 8);
    caches.gpu.append(k, v);
    const before = await caches.gpu.downloadStorage();
    const memory = caches.gpu.memory();
    const bad = k.slice();
    bad[5] = Number.NaN;
    const attempts: Array<[() => void, string]> = [
      [() => caches.gpu.append(k.subarray(1), v), 'ERR_QATTN_SHAPE'],
      [() => caches.gpu.append(k, v.subarray(0, v.length - 16)), 'ERR_QATTN_SHAPE'],
      [() => caches.gpu.append(bad, v), 'ERR_QATTN_NONFINITE'],
      [() => caches.gpu.append(k, v), 'ERR_QATTN_SHAPE'], // past the capacity of 40
      [() => caches.gpu.append(k.subarray(0, 2 * 16), v.subarray(0, 2 * 16), { sequence: 2 }), 'ERR_QATTN_OPTION'],
      [() => caches.gpu.append(new Float64Array(k.length) as unknown as Float32Array, v), 'ERR_QATTN_DTYPE'],
      [() => caches.gpu.storage(), 'ERR_QATTN_UNSUPPORTED'],
    ];
    for (const [attempt, code] of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (err) {
        caught = err;
      }
      expect(isQattnError(caught, code as never), `${String(caught)}`).toBe(true);
    }
    expect(caches.gpu.memory()).toEqual(memory);
    expect(await caches.gpu.downloadStorage()).toEqual(before);
    caches.gpu.dispose();
  });

  it('counts the GPU bytes it allocated, and dispose destroys every buffer', async () => {
    if (!gpu) return;
    const created = new Set<GPUBuffer>();
    const destroyed = new Set<GPUBuffer>();
    const device = gpu.device;
    const original = device.createBuffer.bind(device);
    device.createBuffer = (descriptor: GPUBufferDescriptor) => {
      const buffer = original(descriptor);
      created.add(buffer);
      const destroy = buffer.destroy.bind(buffer);
      buffer.destroy = () => {
        destroyed.add(buffer);
        destroy();
      };
      return buffer;
    };
    try {
      const cache = both({ batch: 1, kvHeads: 2, headDim: 64, pageSize: 64, sinkTokens: 4 }).gpu;
      const { k, v } = llmKV(1, 2, 4 + 64 * 6, 64, 9);
      cache.append(k, v);
      const memory = cache.memory();
      expect(memory.allocatedBytes).toBeGreaterThan(0);
      expect(memory.compressionRatio).toBeGreaterThan(2.5);
      cache.dispose();
      cache.dispose();
      expect(cache.liveBuffers).toBe(0);
      for (const buffer of created) expect(destroyed.has(buffer), buffer.label).toBe(true);
      let caught: unknown;
      try {
        cache.append(k, v);
      } catch (err) {
        caught = err;
      }
      expect(isQattnError(caught, 'ERR_QATTN_DISPOSED')).toBe(true);
    } finally {
      device.createBuffer = original;
    }
  });
});
