// The host side of a CUDA decode step against a recording fake runtime and addon (no GPU): how many jobs, allocations
// and argument packs a step costs as the cache grows, and what the launched argument block holds. The kernels are
// tested by test/decode-cuda.suite.ts on a device.
import { type Binding, CudaRuntime, type DeviceDType, DeviceTensor } from '@qattn/cuda-runtime';
import type { KVCache, KVCacheConfig } from '@qattn/kv-cache';
import { describe, expect, it } from 'vitest';
import type { TurboAttnBinding } from '../../cuda/addon.js';
import type { DecodeParams } from '../decode_paged_cpu.js';
import type { DecodeArgsLayout } from './args.js';
import type { DecodeDeviceStorage } from './device-cache.js';
import { createCudaDecodeBackend } from './index.js';
import { cudaDecodeSchedule } from './schedule.js';

/** qattn::DecodeArgs's fields (native/decode_args.h QATTN_DECODE_ARG_FIELDS), laid out in order. */
function decodeLayout(): DecodeArgsLayout {
  const tensor = (prefix: string) => [
    ...['Sink', 'BufferCodes', 'BufferScales', 'PageTable', 'PageBits'].map((n) => prefix + n),
    ...[8, 4, 2].flatMap((bits) => ['Codes', 'Step', 'Zero', 'Scales'].map((n) => `${prefix}Pool${bits}${n}`)),
  ];
  const pointers = ['q', 'out', 'lse', 'partialOut', 'partialLse', 'combineCounters', 'lengths', 'kMean', 'rotationSigns', ...tensor('k'), ...tensor('v')];
  const slots = ['k', 'v'].flatMap((prefix) => [8, 4, 2].map((bits) => `${prefix}Pool${bits}Slots`));
  const ints = [...slots, 'batch', 'heads', 'kvHeads', 'queryTokens', 'headDim', 'pageSize', 'sinkTokens', 'maxPages', 'rowsPerTile', 'rowTiles', 'maxSplits', 'pagesPerSplit', 'exponent', 'skipSparseTiles', 'path'];
  const fields: Record<string, [number, 'p' | 'i' | 'f']> = {};
  let offset = 0;
  for (const name of pointers) fields[name] = [(offset += 8) - 8, 'p'];
  for (const name of ints) fields[name] = [(offset += 4) - 4, 'i'];
  for (const name of ['smScaleLog2', 'sasThreshold']) fields[name] = [(offset += 4) - 4, 'f'];
  return { bytes: offset, fields };
}

interface Recorder {
  allocations: Array<{ dtype: DeviceDType; dims: number[] }>;
  live: Set<bigint>;
  launches: Uint8Array[];
  submits: number;
  /** Tensors cleared by fill-only jobs (the plan's combine counters), kept apart from the steps' jobs. */
  fills?: DeviceTensor[];
}

function fakeRuntime(rec: Recorder): CudaRuntime {
  let next = 0x10000n;
  const runtime = {
    device: { multiProcessorCount: 132, sharedMemPerBlockOptin: 227 * 1024 },
    async empty<D extends DeviceDType>(dtype: D, dims: readonly number[]) {
      const pointer = (next += 0x100n);
      rec.allocations.push({ dtype, dims: [...dims] });
      rec.live.add(pointer);
      return new DeviceTensor(runtime as unknown as CudaRuntime, pointer, dtype, [...dims]);
    },
    free(pointer: bigint) {
      rec.live.delete(pointer);
    },
    fillStep(tensor: DeviceTensor, byteValue: number) {
      return { launcher: 0xf111n, args: new Uint8Array(32), tensor, byteValue };
    },
    async launch(_launcher: bigint, args: Uint8Array) {
      rec.launches.push(args);
    },
    async submit(job: { launches?: Array<{ launcher: bigint; args: Uint8Array; tensor?: DeviceTensor; byteValue?: number }> }) {
      const launches = job.launches ?? [];
      if (launches.length > 0 && launches.every((l) => l.launcher === 0xf111n && l.byteValue === 0)) {
        rec.fills = [...(rec.fills ?? []), ...launches.map((l) => l.tensor as DeviceTensor)];
        return;
      }
      rec.submits++;
      for (const { args } of job.launches ?? []) rec.launches.push(args);
    },
  };
  return runtime as unknown as CudaRuntime;
}

const layout = decodeLayout();
const binding = { decodeLauncher: 0xdecn, decodeArgsLayout: layout } as unknown as TurboAttnBinding;

const config: KVCacheConfig = {
  batch: 4,
  kvHeads: 8,
  headDim: 128,
  backend: 'cuda',
  bits: 4,
  lowBitFraction: { k: 0, v: 0 },
  pageSize: 64,
  sinkTokens: 4,
  hadamard: true,
  capacity: null,
};

/** A device storage view of fake tensors at distinct addresses (`base` picks the block), as kv-cache's deviceStorage(). */
function storageView(runtime: CudaRuntime, hostLengths: Int32Array, maxPages: number, base: bigint): DecodeDeviceStorage {
  let next = base;
  const t = () => new DeviceTensor(runtime, (next += 0x10n), 'uint8', [1]);
  const tensor = () => ({ sink: t(), bufferCodes: t(), bufferScales: t(), pageTable: t(), pageBits: t(), pools: { 4: { slots: 8, codes: t(), step: t(), zero: t(), scales: t() } } });
  return { config, runtime, maxPages, lengths: t(), kMean: t(), rotationSigns: t(), k: tensor(), v: tensor(), hostLengths };
}

/** A growing cuda cache as decode sees it: lengths on the host, a storage view replaced when `grow` reallocates. */
function fakeCache(runtime: CudaRuntime) {
  const hostLengths = new Int32Array(config.batch);
  let view = storageView(runtime, hostLengths, 16, 0x9000_0000n);
  const cache = {
    backend: 'cuda' as const,
    config,
    batch: config.batch,
    kvHeads: config.kvHeads,
    headDim: config.headDim,
    deviceStorage: () => view,
    ready: async () => {},
  };
  return {
    cache: cache as unknown as KVCache,
    view: () => view,
    setLength(length: number) {
      hostLengths.fill(length);
    },
    /** A page table that had to grow: new buffers, so a new view (kv-cache's deviceStorage() after a growing append). */
    grow(maxPages: number) {
      view = storageView(runtime, hostLengths, maxPages, 0xa000_0000n + BigInt(maxPages) * 0x1000n);
    },
  };
}

/** A recorder, the fake runtime writing to it, a decode backend on that runtime and a growing fake cache. */
function harness() {
  const rec: Recorder = { allocations: [], live: new Set(), launches: [], submits: 0 };
  const runtime = fakeRuntime(rec);
  return { rec, runtime, backend: createCudaDecodeBackend(runtime, binding), fake: fakeCache(runtime) };
}

const params: DecodeParams = { heads: 32, queryTokens: 1, scale: 1 / Math.sqrt(128), pagesPerSplit: 16, variant: { exponent: 'sas', sasThreshold: 12, skipSparseTiles: true } };

const field = (args: Uint8Array, name: string): bigint | number => {
  const [offset, kind] = layout.fields[name];
  const view = new DataView(args.buffer, args.byteOffset, args.byteLength);
  return kind === 'p' ? view.getBigUint64(offset, true) : kind === 'i' ? view.getInt32(offset, true) : view.getFloat32(offset, true);
};

describe('CUDA decode step: host work per step does not grow with the cache', () => {
  it('one launch per device-resident step; the workspace is allocated once from 100 to 70K tokens', async () => {
    const { rec, runtime, backend, fake } = harness();
    const q = await runtime.empty('float32', [4, 32, 1, 128]);
    rec.allocations.length = 0;
    let steps = 0;
    let maxPages = 16;
    for (let length = 100; length <= 70_000; length += 97) {
      fake.setLength(length);
      // The cache's page tables grow geometrically, as kv-cache's do: a new storage view now and then.
      if (Math.ceil(length / 64) > maxPages) fake.grow((maxPages = Math.ceil(maxPages * 1.5)));
      const { out, lse } = await backend.decodeDevice(q, fake.cache, params);
      const args = rec.launches[steps++];
      expect([field(args, 'q'), field(args, 'out'), field(args, 'lse')]).toEqual([q.pointer, out.pointer, lse.pointer]);
      const schedule = cudaDecodeSchedule({ lengths: [length, length, length, length], kvHeads: 8, heads: 32, queryTokens: 1, pageSize: 64, sinkTokens: 4, smCount: 132, headDim: 128 });
      expect([field(args, 'maxSplits'), field(args, 'pagesPerSplit'), field(args, 'maxPages')]).toEqual([schedule.maxSplits, schedule.pagesPerSplit, maxPages]);
      expect([field(args, 'kPageTable'), field(args, 'vPool4Codes')]).toEqual([fake.view().k.pageTable.pointer, fake.view().v.pools[4]!.codes.pointer]);
      // A pool's slot count sizes the kernel's TMA tensor maps; a width the cache lacks has none (null codes, 0 slots).
      expect([field(args, 'kPool4Slots'), field(args, 'vPool4Slots'), field(args, 'kPool8Slots'), field(args, 'kPool8Codes')]).toEqual([8, 8, 0, 0n]);
      out.dispose();
      lse.dispose();
    }
    expect(rec.launches.length).toBe(steps);
    expect(rec.submits).toBe(0);
    // The plan's six tensors once, then each step's out and lse: nothing else, at any length.
    expect(rec.allocations.length).toBe(6 + 2 * steps);
    // The fused combine's counters: one per (sequence, kv head, row tile), zeroed once when the plan is made, and the
    // same tensor in every step's argument block.
    expect(rec.allocations.filter((a) => a.dtype === 'int32').map((a) => a.dims)).toEqual([[4, 8, 1]]);
    expect(rec.fills?.map((t) => t.dims)).toEqual([[4, 8, 1]]);
    expect(new Set(rec.launches.map((args) => field(args, 'combineCounters')))).toEqual(new Set([rec.fills?.[0].pointer]));
    // The partial states: splitCapacity 48 (one wave of the H200), not any one step's split count.
    expect(rec.allocations.filter((a) => a.dims.length === 5).map((a) => a.dims)).toEqual([[4, 8, 48, 4, 128]]);
    expect(new Set(rec.launches.map((args) => field(args, 'partialOut'))).size).toBe(1);
    q.dispose();
  });

  it('refuses a pool without its slot count (a kv-cache older than this package) before launching: ERR_QATTN_DEVICE', async () => {
    const { rec, runtime, backend, fake } = harness();
    fake.setLength(1000);
    delete (fake.view().v.pools[4] as { slots?: number }).slots;
    const q = await runtime.empty('float32', [4, 32, 1, 128]);
    await expect(backend.decodeDevice(q, fake.cache, params)).rejects.toMatchObject({ code: 'ERR_QATTN_DEVICE', message: expect.stringContaining('vPool4Slots') });
    expect(rec.launches).toEqual([]);
  });

  it('a typed-array step is one submit job; concurrent steps of one shape share the plan', async () => {
    const { rec, runtime, backend, fake } = harness();
    const q = new Float32Array(4 * 32 * 128);
    for (const length of [300, 301, 5000, 5001]) {
      fake.setLength(length);
      await Promise.all([backend.decode(q, fake.cache, params), backend.decode(q, fake.cache, params)]);
    }
    expect(rec.submits).toBe(8);
    expect(rec.allocations.length).toBe(6);
    const plan = rec.allocations.slice(3, 6).map((a) => a.dims);
    expect(plan).toEqual([
      [4, 32, 1, 128],
      [4, 32, 1, 128],
      [4, 32, 1],
    ]);
  });

  it('packs the argument block again when the softmax parameters change, and only then', async () => {
    const { rec, runtime, backend, fake } = harness();
    fake.setLength(1000);
    const q = await runtime.empty('float32', [4, 32, 1, 128]);
    for (const p of [params, { ...params, variant: { exponent: 'exp2' as const, sasThreshold: 0, skipSparseTiles: false } }, { ...params, scale: 0.5 }, params]) {
      const { out, lse } = await backend.decodeDevice(q, fake.cache, p);
      out.dispose();
      lse.dispose();
    }
    expect(rec.launches.map((args) => [field(args, 'exponent'), field(args, 'skipSparseTiles'), field(args, 'sasThreshold')])).toEqual([
      [1, 1, 12],
      [0, 0, 0],
      [1, 1, 12],
      [1, 1, 12],
    ]);
    expect(field(rec.launches[2], 'smScaleLog2')).toBeCloseTo(0.5 * Math.LOG2E, 6);
    expect(field(rec.launches[3], 'smScaleLog2')).toBeCloseTo(Math.LOG2E / Math.sqrt(128), 6);
    q.dispose();
  });

  it('a steady-state device-resident step is one addon call: no alloc or free, the argument block patched in place', async () => {
    // The real CudaRuntime over a fake addon that counts its calls (the runtime's reuse of freed blocks included).
    const calls: string[] = [];
    const launched: Uint8Array[] = [];
    const live = new Set<bigint>();
    let next = 0x5000_0000n;
    const addon = {
      async alloc() {
        calls.push('alloc');
        const pointer = (next += 0x1_0000n);
        live.add(pointer);
        return pointer;
      },
      free(pointer: bigint) {
        calls.push('free');
        return live.delete(pointer);
      },
      // The plan clears its combine counters with one memset job when it is made.
      builtinLaunchers: { fill: 0xf111n, copy: 0xc097n },
      async submit() {
        calls.push('submit');
      },
      async launch(_launcher: bigint, args: Uint8Array) {
        calls.push('launch');
        launched.push(args);
      },
      async trimCaches() {},
      liveBuffers: () => live.size,
    } as unknown as Binding;
    const info = { name: 'fake', computeCapability: [9, 0] as [number, number], multiProcessorCount: 132, totalGlobalMem: 0, sharedMemPerBlockOptin: 227 * 1024, l2CacheSize: 0, runtimeVersion: 13000, driverVersion: 13000 };
    const runtime = new CudaRuntime(addon, info);
    const backend = createCudaDecodeBackend(runtime, binding);
    const fake = fakeCache(runtime);
    const q = await runtime.empty('float32', [4, 32, 1, 128]);
    const step = async (length: number) => {
      fake.setLength(length);
      const { out, lse } = await backend.decodeDevice(q, fake.cache, params);
      const args = launched[launched.length - 1];
      expect([field(args, 'q'), field(args, 'out'), field(args, 'lse')]).toEqual([q.pointer, out.pointer, lse.pointer]);
      const schedule = cudaDecodeSchedule({ lengths: [length, length, length, length], kvHeads: 8, heads: 32, queryTokens: 1, pageSize: 64, sinkTokens: 4, smCount: 132, headDim: 128 });
      expect([field(args, 'maxSplits'), field(args, 'pagesPerSplit')]).toEqual([schedule.maxSplits, schedule.pagesPerSplit]);
      out.dispose();
      lse.dispose();
    };
    await step(900); // the plan's workspace, the outputs' first blocks
    const baseline = runtime.liveBuffers();
    calls.length = 0;
    launched.length = 0;
    // 200 steps, crossing page boundaries (a new split schedule every 64 tokens, the same plan and storage view).
    for (let length = 901; length <= 1100; length++) await step(length);
    expect(calls).toEqual(new Array(200).fill('launch'));
    // One argument block per run of steps with the same split schedule, repacked only where the schedule changes.
    const scheduleAt = (length: number) => {
      const s = cudaDecodeSchedule({ lengths: [length, length, length, length], kvHeads: 8, heads: 32, queryTokens: 1, pageSize: 64, sinkTokens: 4, smCount: 132, headDim: 128 });
      return `${s.maxSplits}/${s.pagesPerSplit}`;
    };
    let runs = 0;
    for (let length = 901; length <= 1100; length++) if (length === 901 || scheduleAt(length) !== scheduleAt(length - 1)) runs++;
    expect(runs).toBeLessThan(5);
    expect(new Set(launched).size).toBe(runs);
    expect(runtime.liveBuffers()).toBe(baseline);
    q.dispose();
    await runtime.releaseCaches();
    expect(live.size).toBe(0);
  });
});
