import type { CudaRuntime, DeviceDType, DeviceTensor, LaunchStep, TransferStep } from '@qattn/cuda-runtime';
import { QattnError, assertFinite, assertFloat32Array, isQattnError } from '@qattn/quant-core';
import { hadamardSigns } from '../hadamard.js';
import type { KVAppendOptions, KVCache, KVCacheMemory } from '../kv-cache.js';
import { type KVCacheStorage, type KVTensorStorage, type PagePoolStorage, lowBitHeads, pageWords, tokenPlacement } from '../layout.js';
import type { KVCacheConfig, PageBits } from '../options.js';
import type { KVCacheCudaBinding, TensorArgFields } from './addon.js';
import { type AppendPlan, encodePlan, grownMaxPages, maxPageJobs, planAppend, planWords } from './append-plan.js';
import type { CudaKVCacheStorage, CudaKVTensorStorage, CudaPagePoolStorage } from './device-storage.js';
import { readSequenceFromStorage } from '../read-storage.js';
import { SlotFreeList } from '../slot-free-list.js';
import { appendSequence, checkSequence } from '../sequence-args.js';

/** A page pool on the device (its slots may run ahead of the host free list's until the next job grows it). */
interface DevicePool {
  readonly bits: PageBits;
  readonly wordsPerPage: number;
  readonly metaPerPage: number;
  readonly scalesPerPage: number;
  slots: number;
  codes: DeviceTensor<'int32'>; // [slots, wordsPerPage]
  step: DeviceTensor<'uint8'>; // [slots, max(1, meta)]
  zero: DeviceTensor<'int8'>; // [slots, max(1, meta)]
  scales: DeviceTensor<'float32'>; // [slots, scalesPerPage]
}

interface TensorState {
  readonly pageMajor: 'token' | 'channel';
  /** Heads of each page at 2 bits; the other (kvHeads − lowHeads) take the wide pool (8 or 4 bits). */
  readonly lowHeads: number;
  readonly wideBits: 8 | 4;
  readonly sink: DeviceTensor<'float32'>; // [batch, kvHeads, sinkTokens, headDim]
  readonly bufferCodes: DeviceTensor<'int8'>; // [batch, kvHeads, pageSize, headDim]
  readonly bufferScales: DeviceTensor<'float32'>; // [batch, kvHeads, pageSize]
  pageTable: DeviceTensor<'int32'>; // [batch, kvHeads, deviceMaxPages]
  pageBits: DeviceTensor<'uint8'>; // [batch, kvHeads, deviceMaxPages]
  readonly pools: Partial<Record<PageBits, DevicePool>>;
  readonly free: Partial<Record<PageBits, SlotFreeList>>;
  hostPageTable: Int32Array; // [batch, kvHeads, maxPages]
  hostPageBits: Uint8Array; // [batch, kvHeads, maxPages]
}

/** Staging of appends of one shape (entries × tokens): reused by every decode step of a batch. */
interface Workspace {
  readonly bytes: number;
  readonly tensors: DeviceTensor[];
  readonly inputK: DeviceTensor<'float32'> | null; // host inputs: [entries, kvHeads, tokens, headDim]
  readonly inputV: DeviceTensor<'float32'> | null;
  readonly stage: Record<'k' | 'v', { codes: DeviceTensor<'int8'>; scales: DeviceTensor<'float32'>; sink: DeviceTensor<'float32'> }>;
  readonly kPartial: DeviceTensor<'int32'>; // float64 [entries, kvHeads, chunks, headDim] (no float64 dtype: 2 words each)
  readonly plan: DeviceTensor<'int32'>;
}

/** What a device-input append changed on the host, to undo when the device rejects its input. */
interface HostUndo {
  readonly lengths: Int32Array;
  readonly popped: { list: SlotFreeList; slot: number }[];
  readonly entries: { tensor: TensorState; sequence: number; g: number; page: number }[];
}

/** Workspaces above this are freed right after their append instead of being kept for the next one. */
const KEEP_WORKSPACE_BYTES = 64 << 20;
/** Workspaces kept (LRU): a prompt shape and a decode-step shape. */
const WORKSPACE_CAPACITY = 3;

function isDeviceTensor(x: unknown): x is DeviceTensor {
  return typeof x === 'object' && x !== null && (x as { location?: unknown }).location === 'cuda';
}

/**
 * Bytes of QattnBuiltinArgs (@qattn/cuda-runtime native/runtime_addon.cc, documented on `NativeBuiltinLaunchers`):
 * u64 dst, u64 src, u64 bytes, i32 value. `CudaRuntime.copyStep` copies whole tensors only; growing a pool copies the
 * old pool into the front of the new one.
 */
function copyPrefixStep(runtime: CudaRuntime, dst: DeviceTensor, src: DeviceTensor): LaunchStep {
  const args = new Uint8Array(32);
  const view = new DataView(args.buffer);
  view.setBigUint64(0, dst.pointer, true);
  view.setBigUint64(8, src.pointer, true);
  view.setBigUint64(16, BigInt(Math.min(dst.byteLength, src.byteLength)), true);
  return { launcher: runtime.binding.builtinLaunchers.copy, args };
}

/**
 * The `cuda` backend of the KV cache: {@link KVCacheStorage}'s layout in device buffers ({@link CudaKVCacheStorage}),
 * appended to by kernels (native/kv_append.cu) that quantize and compress on the device with the CPU oracle's
 * arithmetic. The page allocator, the page tables and the lengths are mirrored on the host, so that an append is
 * planned, validated and committed on the host synchronously, and its device work is one `runtime.submit`.
 *
 * Ordering: every method enqueues in call order on the runtime's one stream. An append that needs no new device
 * memory is submitted before it returns; one that grows a pool, a page table or needs a new staging shape allocates
 * first (asynchronously) and later calls queue behind it. The promise an append or clear returns settles when its
 * device work has finished; a device failure (not a rejected input) leaves the cache unusable (`ERR_QATTN_DEVICE` on
 * every later call), since the device no longer matches the host's mirror.
 */
export class CudaKVCache implements KVCache {
  readonly backend = 'cuda' as const;
  readonly config: KVCacheConfig;
  readonly #runtime: CudaRuntime;
  readonly #addon: KVCacheCudaBinding;
  readonly #signs: DeviceTensor<'float32'> | null;
  readonly #lengths: DeviceTensor<'int32'>; // [batch]
  readonly #kMean: DeviceTensor<'float32'>; // [batch, kvHeads, headDim]
  readonly #status: DeviceTensor<'int32'>; // [1]
  readonly #hostLengths: Int32Array;
  readonly #generation: Int32Array; // per sequence, bumped by clear: a late page-table fix-up must not resurrect pages
  readonly #k: TensorState;
  readonly #v: TensorState;
  readonly #workspaces = new Map<string, Workspace>();
  #maxPages: number; // host page-table row length
  #deviceMaxPages: number;
  /** Resolves once the last queued job has been submitted (null: everything queued is on the stream). */
  #gate: Promise<void> | null = null;
  /** Settles when the last job's device work has finished. */
  #last: Promise<void> = Promise.resolve();
  #pendingDeviceAppend = false;
  /**
   * The view deviceStorage() returns, kept until a buffer it names is replaced (a pool or page table grows), so that a
   * decode loop sees one object per layout and can keep what it derived from it (turbo-attn's packed arguments).
   */
  #storageView: CudaKVCacheStorage | null = null;
  #broken: QattnError | null = null;
  #disposed = false;

  private constructor(config: KVCacheConfig, runtime: CudaRuntime, addon: KVCacheCudaBinding, parts: {
    signs: DeviceTensor<'float32'> | null;
    lengths: DeviceTensor<'int32'>;
    kMean: DeviceTensor<'float32'>;
    status: DeviceTensor<'int32'>;
    k: TensorState;
    v: TensorState;
    maxPages: number;
  }) {
    this.config = config;
    this.#runtime = runtime;
    this.#addon = addon;
    this.#signs = parts.signs;
    this.#lengths = parts.lengths;
    this.#kMean = parts.kMean;
    this.#status = parts.status;
    this.#k = parts.k;
    this.#v = parts.v;
    this.#maxPages = parts.maxPages;
    this.#deviceMaxPages = parts.maxPages;
    this.#hostLengths = new Int32Array(config.batch);
    this.#generation = new Int32Array(config.batch);
  }

  /** Allocates a cache of `config` on the device (every buffer zeroed; fixed-capacity caches at their full size). */
  static async create(config: KVCacheConfig, runtime: CudaRuntime, addon: KVCacheCudaBinding): Promise<CudaKVCache> {
    const { batch, kvHeads, headDim, pageSize, sinkTokens, capacity } = config;
    const maxPages = capacity === null ? 0 : tokenPlacement(capacity, sinkTokens, pageSize).pages;
    const made: DeviceTensor[] = [];
    const alloc = async <D extends DeviceDType>(dtype: D, dims: number[]): Promise<DeviceTensor<D>> => {
      const tensor = await runtime.empty(dtype, dims.some((d) => d === 0) ? [1] : dims);
      made.push(tensor);
      return tensor;
    };
    try {
      const tensor = async (pageMajor: 'token' | 'channel', fraction: number): Promise<TensorState> => {
        const lowHeads = config.bits === 8 ? 0 : lowBitHeads(fraction, kvHeads);
        const wideBits = config.bits === 8 ? 8 : 4;
        const pools: Partial<Record<PageBits, DevicePool>> = {};
        const free: Partial<Record<PageBits, SlotFreeList>> = {};
        const meta = config.bits === 8 ? 0 : pageMajor === 'token' ? headDim : pageSize;
        const widths: [PageBits, number][] = [[wideBits, kvHeads - lowHeads]];
        if (lowHeads > 0) widths.push([2, lowHeads]);
        for (const [bits, heads] of widths) {
          const slots = batch * maxPages * heads;
          const scalesPerPage = bits === 8 ? pageSize : 1;
          pools[bits] = await CudaKVCache.#allocPool(alloc, bits, pageWords(bits, pageSize, headDim), meta, scalesPerPage, slots);
          free[bits] = new SlotFreeList(bits, slots, capacity === null);
        }
        return {
          pageMajor,
          lowHeads,
          wideBits,
          sink: await alloc('float32', [batch, kvHeads, sinkTokens, headDim]),
          bufferCodes: await alloc('int8', [batch, kvHeads, pageSize, headDim]),
          bufferScales: await alloc('float32', [batch, kvHeads, pageSize]),
          pageTable: await alloc('int32', [batch, kvHeads, maxPages]),
          pageBits: await alloc('uint8', [batch, kvHeads, maxPages]),
          pools,
          free,
          hostPageTable: new Int32Array(batch * kvHeads * maxPages).fill(-1),
          hostPageBits: new Uint8Array(batch * kvHeads * maxPages),
        };
      };
      const k = await tensor('token', config.lowBitFraction.k);
      const v = await tensor('channel', config.lowBitFraction.v);
      const signs = config.hadamard ? await runtime.upload(hadamardSigns(headDim), 'float32', [headDim]) : null;
      if (signs) made.push(signs);
      const lengths = await alloc('int32', [batch]);
      const kMean = await alloc('float32', [batch, kvHeads, headDim]);
      const status = await alloc('int32', [1]);
      // Zero everything the CPU cache zeroes (page tables: −1), so that storage snapshots compare equal.
      const fills = made.filter((t) => t !== signs).map((t) => runtime.fillStep(t, t === k.pageTable || t === v.pageTable ? 0xff : 0));
      await runtime.submit({ launches: fills }, 'kv-cache create');
      return new CudaKVCache(config, runtime, addon, { signs, lengths, kMean, status, k, v, maxPages });
    } catch (err) {
      for (const t of made) t.dispose();
      throw err;
    }
  }

  static async #allocPool(
    alloc: <D extends DeviceDType>(dtype: D, dims: number[]) => Promise<DeviceTensor<D>>,
    bits: PageBits,
    wordsPerPage: number,
    metaPerPage: number,
    scalesPerPage: number,
    slots: number,
  ): Promise<DevicePool> {
    return {
      bits,
      wordsPerPage,
      metaPerPage,
      scalesPerPage,
      slots,
      codes: await alloc('int32', [slots, wordsPerPage]),
      step: await alloc('uint8', [slots, Math.max(1, metaPerPage)]),
      zero: await alloc('int8', [slots, Math.max(1, metaPerPage)]),
      scales: await alloc('float32', [slots, scalesPerPage]),
    };
  }

  get batch(): number {
    return this.config.batch;
  }

  get kvHeads(): number {
    return this.config.kvHeads;
  }

  get headDim(): number {
    return this.config.headDim;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  get lengths(): readonly number[] {
    this.#live('lengths');
    return Array.from(this.#hostLengths);
  }

  get length(): number {
    this.#live('length');
    return Math.max(0, ...this.#hostLengths);
  }

  /**
   * Appends tokens, quantized on the device in one submit (see `KVCache.append` for shapes, placement and errors).
   *
   * - Float32Array k, v (host): validated on the host (dtype, shape, capacity, finiteness) before anything changes,
   *   copied (the caller may reuse its arrays at once), uploaded with the plan in the same job as the kernels.
   * - DeviceTensor<'float32'> k, v (a model's K/V already on the GPU), dims `[batch, kvHeads, tokens, headDim]` or
   *   `[kvHeads, tokens, headDim]` with `{ sequence }`: dtype and shape are checked on the host; finiteness on the
   *   device, in the same job: the quantize kernel writes only staging and flags a NaN/±Inf, and the kernels that
   *   write the cache return at once when the flag is set. The promise then rejects with `ERR_QATTN_NONFINITE` and
   *   the host's mirror is rolled back, so the cache holds exactly what it held (a pool or page table that had to
   *   grow for it stays grown). Until that promise settles, `append` and `clear` throw `ERR_QATTN_UNSUPPORTED`.
   *
   * Resolves when the device work has finished. Host appends need not be awaited: later calls (appends, decode) are
   * ordered after them on the stream.
   */
  append(k: Float32Array | DeviceTensor, v: Float32Array | DeviceTensor, options?: KVAppendOptions): Promise<void> {
    this.#live('append');
    this.#checkIdle('append');
    const { batch, kvHeads, headDim } = this.config;
    const sequence = appendSequence(this.config.batch, options);
    const sequences = sequence === undefined ? Array.from({ length: batch }, (_, b) => b) : [sequence];
    const layout = sequence === undefined ? `[batch, kvHeads, tokens, headDim] = [${batch}, ${kvHeads}, tokens, ${headDim}]` : `[kvHeads, tokens, headDim] = [${kvHeads}, tokens, ${headDim}]`;
    const onDevice = isDeviceTensor(k) || isDeviceTensor(v);
    const tokens = onDevice ? this.#checkDeviceInputs(k, v, sequence !== undefined, layout) : this.#checkHostInputs(k, v, sequences.length, layout);
    const plan = planAppend(this.config, this.#hostLengths, sequences, tokens);

    // Room first (a fixed pool that cannot take the pages throws before anything changes), then commit on the host.
    const newPages = plan.jobs.length;
    for (const tensor of [this.#k, this.#v]) {
      tensor.free[tensor.wideBits]?.slotsAfterReserve(newPages * (kvHeads - tensor.lowHeads));
      tensor.free[2]?.slotsAfterReserve(newPages * tensor.lowHeads);
    }
    const undo: HostUndo = { lengths: this.#hostLengths.slice(), popped: [], entries: [] };
    for (const tensor of [this.#k, this.#v]) {
      tensor.free[tensor.wideBits]?.reserve(newPages * (kvHeads - tensor.lowHeads));
      tensor.free[2]?.reserve(newPages * tensor.lowHeads);
    }
    this.#growHostTables(plan.pagesNeeded);
    const slots = { k: this.#takeSlots(this.#k, plan, undo), v: this.#takeSlots(this.#v, plan, undo) };
    for (const { sequence: b } of plan.entries) this.#hostLengths[b] += tokens;
    const generations = plan.entries.map(({ sequence: b }) => this.#generation[b]);

    const hostInputs = onDevice ? null : { k: (k as Float32Array).slice(), v: (v as Float32Array).slice() };
    if (onDevice) this.#pendingDeviceAppend = true;
    const key = `${onDevice ? 'device' : 'host'}:${plan.entries.length}x${tokens}`;
    const submit = (): Promise<void> => {
      const workspace = this.#workspaces.get(key);
      if (!workspace) throw new Error('kv-cache: append workspace missing'); // allocated by #prepare
      const done = this.#submitAppend(plan, slots, workspace, hostInputs ?? { k: k as DeviceTensor, v: v as DeviceTensor }, onDevice, undo, generations);
      if (workspace.bytes > KEEP_WORKSPACE_BYTES) this.#dropWorkspace(key); // freed in stream order, after this job
      return done;
    };
    // A queued append always re-checks (an earlier job may have evicted or dropped its workspace); a direct one only
    // allocates when it must.
    const mustPrepare = this.#needsDeviceGrowth() || !this.#workspaces.has(key);
    const done = this.#enqueue(mustPrepare, () => this.#prepare(key, plan.entries.length, tokens, onDevice), submit);
    if (!onDevice) return done;
    const settled = done.finally(() => {
      this.#pendingDeviceAppend = false;
    });
    settled.catch(() => undefined); // the caller's to handle; unobserved, a rejection must not crash the process
    return settled;
  }

  /** Not available on a device cache (a synchronous read would block on the GPU): use {@link readAsync}. */
  read(_sequence?: number): { k: Float32Array; v: Float32Array } {
    this.#live('read');
    throw new QattnError('ERR_QATTN_UNSUPPORTED', 'KVCache.read: a cuda cache reads asynchronously: use `await cache.readAsync(sequence)`', { backend: 'cuda' });
  }

  /**
   * Sequence `sequence`'s K and V dequantized to float32 `[kvHeads, length, headDim]` (the CPU cache's `read`): downloads
   * the whole storage ({@link downloadStorage}) and decodes it on the host — a test and debugging path, not a fast one.
   */
  async readAsync(sequence = 0): Promise<{ k: Float32Array; v: Float32Array }> {
    this.#live('readAsync');
    checkSequence(this.config.batch, 'readAsync', sequence);
    return readSequenceFromStorage(await this.downloadStorage(), sequence);
  }

  memory(): KVCacheMemory {
    this.#live('memory');
    const { kvHeads, headDim, pageSize, sinkTokens } = this.config;
    const parts = { pages: 0, sinks: 0, buffers: 0, tables: this.#lengths.byteLength + this.#kMean.byteLength + (this.#signs?.byteLength ?? 0) };
    const pages: Partial<Record<PageBits, number>> = {};
    for (const tensor of [this.#k, this.#v]) {
      parts.sinks += tensor.sink.byteLength;
      parts.buffers += tensor.bufferCodes.byteLength + tensor.bufferScales.byteLength;
      parts.tables += tensor.pageTable.byteLength + tensor.pageBits.byteLength;
      for (const pool of Object.values(tensor.pools)) {
        // The host free list may be ahead of a device pool whose growth is queued: count what it will hold.
        const slots = Math.max(pool.slots, tensor.free[pool.bits]?.slots ?? 0);
        const perSlot = 4 * pool.wordsPerPage + 2 * Math.max(1, pool.metaPerPage) + 4 * pool.scalesPerPage;
        parts.pages += slots > 0 ? slots * perSlot : pool.codes.byteLength + pool.step.byteLength + pool.zero.byteLength + pool.scales.byteLength;
      }
      for (const list of Object.values(tensor.free)) pages[list.bits] = (pages[list.bits] ?? 0) + list.used;
    }
    const allocatedBytes = parts.pages + parts.sinks + parts.buffers + parts.tables;
    const tokens = { total: 0, sink: 0, paged: 0, buffered: 0 };
    for (const length of this.#hostLengths) {
      const placement = tokenPlacement(length, sinkTokens, pageSize);
      tokens.total += length;
      tokens.sink += placement.sinkTokens;
      tokens.paged += placement.pages * pageSize;
      tokens.buffered += placement.bufferTokens;
    }
    const fp16Bytes = 2 * 2 * kvHeads * headDim * tokens.total;
    return { allocatedBytes, fp16Bytes, compressionRatio: tokens.total === 0 ? 0 : fp16Bytes / allocatedBytes, parts, tokens, pages };
  }

  clear(sequence?: number): Promise<void> {
    this.#live('clear');
    this.#checkIdle('clear');
    if (sequence !== undefined) checkSequence(this.config.batch, 'clear', sequence);
    const { batch, kvHeads, sinkTokens, pageSize } = this.config;
    for (let b = 0; b < batch; b++) {
      if (sequence !== undefined && b !== sequence) continue;
      const pages = tokenPlacement(this.#hostLengths[b], sinkTokens, pageSize).pages;
      for (const tensor of [this.#k, this.#v]) {
        // TensorStore.releaseSequence's order, so the free lists stay the CPU's.
        for (let g = 0; g < kvHeads; g++) {
          for (let p = 0; p < pages; p++) {
            const entry = (b * kvHeads + g) * this.#maxPages + p;
            tensor.free[tensor.hostPageBits[entry] as PageBits]?.release(tensor.hostPageTable[entry]);
            tensor.hostPageTable[entry] = -1;
            tensor.hostPageBits[entry] = 0;
          }
        }
      }
      this.#hostLengths[b] = 0;
      this.#generation[b]++;
    }
    const submit = () =>
      this.#runtime.submit(
        {
          launches: [
            {
              launcher: this.#addon.clearLauncher,
              args: this.#addon.packClearArgs({
                lengths: this.#lengths.pointer,
                kMean: this.#kMean.pointer,
                kPageTable: this.#k.pageTable.pointer,
                kPageBits: this.#k.pageBits.pointer,
                vPageTable: this.#v.pageTable.pointer,
                vPageBits: this.#v.pageBits.pointer,
                sequence: sequence ?? -1,
                batch,
                kvHeads,
                headDim: this.config.headDim,
                maxPages: this.#deviceMaxPages,
              }),
            },
          ],
        },
        'kv-cache clear',
      );
    return this.#enqueue(false, () => this.#prepare(null, 0, 0, false), submit);
  }

  /** Not available on a device cache: use {@link downloadStorage} (host copies) or {@link deviceStorage} (live buffers). */
  storage(): KVCacheStorage {
    this.#live('storage');
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      'KVCache.storage: a cuda cache lives on the device: use `cache.deviceStorage()` (device buffers) or `await cache.downloadStorage()` (host copies)',
      { backend: 'cuda' },
    );
  }

  /**
   * Host copies of every array of the cache in the CPU cache's layout ({@link KVCacheStorage}), after everything
   * queued before: one job that downloads every device buffer (the whole pools, O(allocated bytes)) — for tests
   * against the CPU oracle and for moving a cache off the GPU, not for a decode loop.
   */
  async downloadStorage(): Promise<KVCacheStorage> {
    this.#live('downloadStorage');
    while (this.#gate !== null) await this.#gate;
    this.#live('downloadStorage');
    this.#throwIfBroken();
    const { batch, kvHeads, headDim, pageSize, sinkTokens } = this.config;
    const maxPages = this.#deviceMaxPages;
    const downloads: TransferStep[] = [];
    const fetch = <T extends ArrayBufferView>(tensor: DeviceTensor, host: T, length: number): T => {
      downloads.push({ tensor, host });
      return (host as unknown as Int8Array).subarray(0, length) as unknown as T;
    };
    const lengths = fetch(this.#lengths, new Int32Array(this.#lengths.elements), batch);
    const kMean = fetch(this.#kMean, new Float32Array(this.#kMean.elements), batch * kvHeads * headDim);
    const tensor = (t: TensorState): KVTensorStorage => {
      const pools: Partial<Record<PageBits, PagePoolStorage>> = {};
      for (const pool of Object.values(t.pools)) {
        const meta = pool.metaPerPage;
        const codes = fetch(pool.codes, new Int32Array(pool.codes.elements), pool.slots * pool.wordsPerPage);
        pools[pool.bits] = {
          bits: pool.bits,
          wordsPerPage: pool.wordsPerPage,
          metaPerPage: meta,
          scalesPerPage: pool.scalesPerPage,
          codes: new Uint32Array(codes.buffer, codes.byteOffset, codes.length),
          step: fetch(pool.step, new Uint8Array(pool.step.elements), pool.slots * meta),
          zero: fetch(pool.zero, new Int8Array(pool.zero.elements), pool.slots * meta),
          scales: fetch(pool.scales, new Float32Array(pool.scales.elements), pool.slots * pool.scalesPerPage),
        };
      }
      return {
        pageMajor: t.pageMajor,
        sink: fetch(t.sink, new Float32Array(t.sink.elements), batch * kvHeads * sinkTokens * headDim),
        bufferCodes: fetch(t.bufferCodes, new Int8Array(t.bufferCodes.elements), batch * kvHeads * pageSize * headDim),
        bufferScales: fetch(t.bufferScales, new Float32Array(t.bufferScales.elements), batch * kvHeads * pageSize),
        pageTable: fetch(t.pageTable, new Int32Array(t.pageTable.elements), batch * kvHeads * maxPages),
        pageBits: fetch(t.pageBits, new Uint8Array(t.pageBits.elements), batch * kvHeads * maxPages),
        pools,
      };
    };
    const k = tensor(this.#k);
    const v = tensor(this.#v);
    const rotationSigns = this.config.hadamard ? hadamardSigns(headDim) : null;
    await this.#runtime.submit({ downloads }, 'kv-cache download');
    return { config: this.config, lengths, kMean, maxPages, rotationSigns, k, v };
  }

  /**
   * The live device buffers in the layout of {@link CudaKVCacheStorage}, for the decode kernels. Valid until the next
   * append or clear (a pool or page table may be reallocated when it grows). Throws `ERR_QATTN_UNSUPPORTED` while a
   * growing append is still allocating (`await` it, or {@link flush}, first). `hostPageTable`/`hostPageBits` of a
   * cache with 2-bit heads are exact once the append that filled the pages has settled (the device ranks the heads).
   *
   * The same object is returned until a buffer it names is reallocated; a new one after that. Its `hostLengths` (and
   * host page tables) are live: they follow every append.
   */
  deviceStorage(): CudaKVCacheStorage {
    this.#live('deviceStorage');
    if (this.#gate !== null) {
      throw new QattnError('ERR_QATTN_UNSUPPORTED', 'KVCache.deviceStorage: an append is still allocating device memory: await it (or cache.flush()) first', {
        backend: 'cuda',
      });
    }
    this.#storageView ??= this.#buildStorageView();
    return this.#storageView;
  }

  #buildStorageView(): CudaKVCacheStorage {
    const tensor = (t: TensorState): CudaKVTensorStorage => {
      const pools: Partial<Record<PageBits, CudaPagePoolStorage>> = {};
      for (const pool of Object.values(t.pools)) pools[pool.bits] = { ...pool };
      return {
        pageMajor: t.pageMajor,
        sink: t.sink,
        bufferCodes: t.bufferCodes,
        bufferScales: t.bufferScales,
        pageTable: t.pageTable,
        pageBits: t.pageBits,
        pools,
        hostPageTable: t.hostPageTable,
        hostPageBits: t.hostPageBits,
      };
    };
    return {
      config: this.config,
      runtime: this.#runtime,
      maxPages: this.#deviceMaxPages,
      lengths: this.#lengths,
      kMean: this.#kMean,
      rotationSigns: this.#signs,
      k: tensor(this.#k),
      v: tensor(this.#v),
      hostLengths: this.#hostLengths,
    };
  }

  /**
   * Resolves once no append is still allocating device memory, so that {@link deviceStorage} answers; at once when
   * none is. Unlike {@link flush} it does not wait for the device: kernels already queued stay queued, and the stream
   * orders them before whatever reads the storage next (turboDecode awaits this before each step).
   */
  async ready(): Promise<void> {
    this.#live('ready');
    while (this.#gate !== null) await this.#gate;
    this.#throwIfBroken();
  }

  /** Resolves once everything queued on the cache has finished on the device; rejects if the cache failed. */
  async flush(): Promise<void> {
    this.#live('flush');
    await this.#last;
    this.#throwIfBroken();
  }

  /** Frees every device buffer (in stream order, after the jobs already queued). Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#storageView = null;
    for (const t of this.#ownedTensors()) t.dispose();
    for (const key of [...this.#workspaces.keys()]) this.#dropWorkspace(key);
  }

  #ownedTensors(): DeviceTensor[] {
    const out: DeviceTensor[] = [this.#lengths, this.#kMean, this.#status];
    if (this.#signs) out.push(this.#signs);
    for (const t of [this.#k, this.#v]) {
      out.push(t.sink, t.bufferCodes, t.bufferScales, t.pageTable, t.pageBits);
      for (const pool of Object.values(t.pools)) out.push(pool.codes, pool.step, pool.zero, pool.scales);
    }
    return out;
  }

  /**
   * Runs `prepare` (allocation) then `submit` after every job queued before. Submits at once, before returning, when
   * nothing waits and `mustPrepare` is false: the decode-step path, one runtime job and no promise hop.
   */
  #enqueue(mustPrepare: boolean, prepare: () => Promise<void>, submit: () => Promise<void>): Promise<void> {
    let done: Promise<void>;
    if (this.#gate === null && !mustPrepare) {
      done = submit();
    } else {
      const submitted = (this.#gate ?? Promise.resolve()).then(async () => {
        this.#throwIfBroken();
        this.#live('append');
        await prepare();
        return { done: submit() };
      });
      const gate: Promise<void> = submitted.then(
        () => undefined,
        () => undefined,
      );
      this.#gate = gate;
      void gate.then(() => {
        if (this.#gate === gate) this.#gate = null;
      });
      done = submitted.then(({ done: finished }) => finished);
    }
    done = done.catch((err: unknown) => {
      // A rejected input left the cache as it was; anything else means device and host no longer agree.
      if (!isQattnError(err, 'ERR_QATTN_NONFINITE') && !this.#disposed) {
        this.#broken ??= isQattnError(err) ? err : new QattnError('ERR_QATTN_DEVICE', `kv-cache: ${(err as Error)?.message ?? String(err)}`, {}, { cause: err });
      }
      throw err;
    });
    this.#last = done.catch(() => undefined);
    return done;
  }

  #needsDeviceGrowth(): boolean {
    if (this.#deviceMaxPages < this.#maxPages) return true;
    for (const t of [this.#k, this.#v]) for (const pool of Object.values(t.pools)) if ((t.free[pool.bits]?.slots ?? 0) > pool.slots) return true;
    return false;
  }

  /** Grows pools and page tables to the host's sizes and allocates the workspace of `key` (asynchronous). */
  async #prepare(key: string | null, entries: number, tokens: number, onDevice: boolean): Promise<void> {
    const launches: LaunchStep[] = [];
    const retired: DeviceTensor[] = [];
    const { batch, kvHeads } = this.config;
    for (const t of [this.#k, this.#v]) {
      for (const pool of Object.values(t.pools)) {
        const slots = t.free[pool.bits]?.slots ?? 0;
        if (slots <= pool.slots) continue;
        const meta = Math.max(1, pool.metaPerPage);
        const next = {
          codes: await this.#runtime.empty('int32', [slots, pool.wordsPerPage]),
          step: await this.#runtime.empty('uint8', [slots, meta]),
          zero: await this.#runtime.empty('int8', [slots, meta]),
          scales: await this.#runtime.empty('float32', [slots, pool.scalesPerPage]),
        };
        for (const part of ['codes', 'step', 'zero', 'scales'] as const) {
          if (pool.slots > 0) launches.push(copyPrefixStep(this.#runtime, next[part], pool[part]));
          retired.push(pool[part]);
        }
        Object.assign(pool, next, { slots });
        this.#storageView = null;
      }
    }
    if (this.#deviceMaxPages < this.#maxPages) {
      const maxPages = this.#maxPages;
      for (const t of [this.#k, this.#v]) {
        const table = await this.#runtime.empty('int32', [batch, kvHeads, maxPages]);
        const bits = await this.#runtime.empty('uint8', [batch, kvHeads, maxPages]);
        launches.push({
          launcher: this.#addon.relayoutLauncher,
          args: this.#addon.packRelayoutArgs({
            oldTable: t.pageTable.pointer,
            oldBits: t.pageBits.pointer,
            newTable: table.pointer,
            newBits: bits.pointer,
            groups: batch * kvHeads,
            oldMax: this.#deviceMaxPages,
            newMax: maxPages,
          }),
        });
        retired.push(t.pageTable, t.pageBits);
        t.pageTable = table;
        t.pageBits = bits;
      }
      this.#deviceMaxPages = maxPages;
      this.#storageView = null;
    }
    if (this.#disposed) {
      for (const t of this.#ownedTensors()) t.dispose();
      for (const t of retired) t.dispose();
      return;
    }
    if (launches.length > 0) void this.#runtime.submit({ launches }, 'kv-cache grow').catch(() => undefined); // failures surface in the append job after it
    for (const t of retired) t.dispose(); // stream-ordered: after the copies above
    if (key !== null && !this.#workspaces.has(key)) this.#workspaces.set(key, await this.#allocWorkspace(entries, tokens, onDevice));
    while (this.#workspaces.size > WORKSPACE_CAPACITY) this.#dropWorkspace(this.#workspaces.keys().next().value as string);
    if (this.#disposed) for (const k of [...this.#workspaces.keys()]) this.#dropWorkspace(k);
  }

  async #allocWorkspace(entries: number, tokens: number, onDevice: boolean): Promise<Workspace> {
    const { kvHeads, headDim, sinkTokens, pageSize } = this.config;
    const tensors: DeviceTensor[] = [];
    const alloc = async <D extends DeviceDType>(dtype: D, dims: number[]): Promise<DeviceTensor<D>> => {
      const t = await this.#runtime.empty(dtype, dims.some((d) => d === 0) ? [1] : dims);
      tensors.push(t);
      return t;
    };
    const chunks = Math.ceil(tokens / this.#addon.chunkTokens);
    const rows = [entries, kvHeads, tokens, headDim];
    const stage = async () => ({
      codes: await alloc('int8', rows),
      scales: await alloc('float32', [entries, kvHeads, tokens]),
      sink: await alloc('float32', [entries, kvHeads, sinkTokens, headDim]),
    });
    const workspace = {
      tensors,
      inputK: onDevice ? null : await alloc('float32', rows),
      inputV: onDevice ? null : await alloc('float32', rows),
      stage: { k: await stage(), v: await stage() },
      kPartial: await alloc('int32', [entries, kvHeads, chunks, headDim, 2]),
      plan: await alloc('int32', [planWords(entries, maxPageJobs(entries, tokens, pageSize), kvHeads)]),
    };
    return { ...workspace, bytes: tensors.reduce((sum, t) => sum + t.byteLength, 0) };
  }

  #dropWorkspace(key: string): void {
    const workspace = this.#workspaces.get(key);
    if (!workspace) return;
    this.#workspaces.delete(key);
    for (const t of workspace.tensors) t.dispose();
  }

  #submitAppend(
    plan: AppendPlan,
    slots: { k: Int32Array[]; v: Int32Array[] },
    workspace: Workspace,
    inputs: { k: Float32Array; v: Float32Array } | { k: DeviceTensor; v: DeviceTensor },
    onDevice: boolean,
    undo: HostUndo,
    generations: number[],
  ): Promise<void> {
    const { batch, kvHeads, headDim, pageSize, sinkTokens, bits } = this.config;
    const planHost = encodePlan(plan, kvHeads, slots, new Int32Array(workspace.plan.elements));
    const uploads: TransferStep[] = [{ tensor: workspace.plan, host: planHost }];
    let inputK: DeviceTensor;
    let inputV: DeviceTensor;
    if (onDevice) {
      inputK = inputs.k as DeviceTensor;
      inputV = inputs.v as DeviceTensor;
    } else {
      inputK = workspace.inputK as DeviceTensor;
      inputV = workspace.inputV as DeviceTensor;
      uploads.push({ tensor: inputK, host: inputs.k as Float32Array }, { tensor: inputV, host: inputs.v as Float32Array });
    }
    const tensorArgs = (t: TensorState, input: DeviceTensor, stage: Workspace['stage']['k']): TensorArgFields => {
      const pool = (b: PageBits) => {
        const p = t.pools[b];
        return p && { codes: p.codes.pointer, step: p.step.pointer, zero: p.zero.pointer, scales: p.scales.pointer };
      };
      return {
        sink: t.sink.pointer,
        bufferCodes: t.bufferCodes.pointer,
        bufferScales: t.bufferScales.pointer,
        pageTable: t.pageTable.pointer,
        pageBits: t.pageBits.pointer,
        pool8: pool(8),
        pool4: pool(4),
        pool2: pool(2),
        input: input.pointer,
        stageCodes: stage.codes.pointer,
        stageScales: stage.scales.pointer,
        stageSink: stage.sink.pointer,
        lowHeads: t.lowHeads,
        channelMajor: t.pageMajor === 'channel' ? 1 : 0,
      };
    };
    const args = this.#addon.packAppendArgs({
      k: tensorArgs(this.#k, inputK, workspace.stage.k),
      v: tensorArgs(this.#v, inputV, workspace.stage.v),
      lengths: this.#lengths.pointer,
      kMean: this.#kMean.pointer,
      signs: this.#signs?.pointer ?? null,
      kPartial: workspace.kPartial.pointer,
      status: this.#status.pointer,
      plan: workspace.plan.pointer,
      batch,
      kvHeads,
      headDim,
      pageSize,
      sinkTokens,
      maxPages: this.#deviceMaxPages,
      bits,
      entries: plan.entries.length,
      tokens: plan.tokens,
      chunks: Math.ceil(plan.tokens / this.#addon.chunkTokens),
      jobs: plan.jobs.length,
      checkFinite: onDevice ? 1 : 0,
    });
    const downloads: TransferStep[] = [];
    const status = new Int32Array(1);
    if (onDevice) downloads.push({ tensor: this.#status, host: status });
    // With 2-bit heads the device ranks the heads of each page: read back which head got which slot.
    const mixed = plan.jobs.length > 0 && (this.#k.lowHeads > 0 || this.#v.lowHeads > 0);
    const tableMax = this.#deviceMaxPages;
    const tables = mixed ? [this.#k, this.#v].map((t) => ({ t, table: new Int32Array(t.pageTable.elements), bits: new Uint8Array(t.pageBits.elements) })) : [];
    for (const { t, table, bits: pageBits } of tables) downloads.push({ tensor: t.pageTable, host: table }, { tensor: t.pageBits, host: pageBits });
    const job = this.#runtime.submit(
      { uploads, launches: [this.#runtime.fillStep(this.#status, 0), { launcher: this.#addon.appendLauncher, args }], downloads },
      'kv-cache append',
    );
    return job.then(() => {
      if (status[0] !== 0) {
        this.#rollback(undo);
        throw new QattnError('ERR_QATTN_NONFINITE', 'KVCache.append: k or v holds NaN or ±Infinity: inputs must be finite (the cache is unchanged)', {
          tensor: 'k/v',
        });
      }
      for (const { t, table, bits: pageBits } of tables) {
        plan.jobs.forEach(({ entry, page }) => {
          const b = plan.entries[entry].sequence;
          if (this.#generation[b] !== generations[entry]) return; // cleared since: its pages are gone
          for (let g = 0; g < kvHeads; g++) {
            const from = (b * kvHeads + g) * tableMax + page;
            const to = (b * kvHeads + g) * this.#maxPages + page;
            t.hostPageTable[to] = table[from];
            t.hostPageBits[to] = pageBits[from];
          }
        });
      }
    });
  }

  #rollback(undo: HostUndo): void {
    this.#hostLengths.set(undo.lengths);
    for (const { tensor, sequence, g, page } of undo.entries) {
      const entry = (sequence * this.config.kvHeads + g) * this.#maxPages + page;
      tensor.hostPageTable[entry] = -1;
      tensor.hostPageBits[entry] = 0;
    }
    for (let i = undo.popped.length - 1; i >= 0; i--) undo.popped[i].list.release(undo.popped[i].slot);
  }

  /**
   * Takes each new page's slots from the free lists in the CPU's order (per pool: page by page, kv head by kv head)
   * and records them in the host page table: exact for single-width caches; with 2-bit heads a provisional
   * assignment until the device's ranking is read back.
   */
  #takeSlots(tensor: TensorState, plan: AppendPlan, undo: HostUndo): Int32Array[] {
    const { kvHeads } = this.config;
    const wide = kvHeads - tensor.lowHeads;
    return plan.jobs.map(({ entry, page }) => {
      const slots = new Int32Array(kvHeads);
      for (let i = 0; i < kvHeads; i++) {
        const list = tensor.free[i < wide ? tensor.wideBits : 2] as SlotFreeList;
        slots[i] = list.allocate();
        undo.popped.push({ list, slot: slots[i] });
      }
      const b = plan.entries[entry].sequence;
      for (let g = 0; g < kvHeads; g++) {
        const index = (b * kvHeads + g) * this.#maxPages + page;
        tensor.hostPageTable[index] = slots[g];
        tensor.hostPageBits[index] = g < wide ? tensor.wideBits : 2;
        undo.entries.push({ tensor, sequence: b, g, page });
      }
      return slots;
    });
  }

  #growHostTables(needed: number): void {
    const maxPages = grownMaxPages(this.#maxPages, needed);
    if (maxPages === this.#maxPages) return;
    const groups = this.config.batch * this.config.kvHeads;
    for (const t of [this.#k, this.#v]) {
      const table = new Int32Array(groups * maxPages).fill(-1);
      const bits = new Uint8Array(groups * maxPages);
      for (let group = 0; group < groups; group++) {
        table.set(t.hostPageTable.subarray(group * this.#maxPages, (group + 1) * this.#maxPages), group * maxPages);
        bits.set(t.hostPageBits.subarray(group * this.#maxPages, (group + 1) * this.#maxPages), group * maxPages);
      }
      t.hostPageTable = table;
      t.hostPageBits = bits;
    }
    this.#maxPages = maxPages;
    this.#storageView = null;
  }

  #checkHostInputs(k: unknown, v: unknown, entries: number, layout: string): number {
    assertFloat32Array('k', k);
    assertFloat32Array('v', v);
    const { kvHeads, headDim } = this.config;
    const tokens = k.length / (entries * kvHeads * headDim);
    if (!Number.isInteger(tokens) || tokens === 0) {
      throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: k has ${k.length} elements, not a positive whole number of tokens of ${layout}`, { tensor: 'k', length: k.length });
    }
    if (v.length !== k.length) {
      throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: v has ${v.length} elements but k has ${k.length} (both ${layout})`, { tensor: 'v', length: v.length, expected: k.length });
    }
    assertFinite('k', k);
    assertFinite('v', v);
    return tokens;
  }

  #checkDeviceInputs(k: unknown, v: unknown, perSequence: boolean, layout: string): number {
    const { batch, kvHeads, headDim } = this.config;
    for (const [name, x] of [['k', k], ['v', v]] as const) {
      if (!isDeviceTensor(x)) {
        throw new QattnError('ERR_QATTN_DTYPE', `KVCache.append: ${name} must be a DeviceTensor like the other input (both on the device or both Float32Arrays)`, { tensor: name });
      }
      if (x.dtype !== 'float32') throw new QattnError('ERR_QATTN_DTYPE', `KVCache.append: ${name} must be a float32 DeviceTensor, got ${x.dtype}`, { tensor: name, got: x.dtype });
      if (x.disposed) throw new QattnError('ERR_QATTN_DISPOSED', `KVCache.append: ${name} was disposed`, { tensor: name });
    }
    const kd = (k as DeviceTensor).dims;
    const lead = perSequence ? [kvHeads] : [batch, kvHeads];
    const ok = kd.length === lead.length + 2 && lead.every((d, i) => kd[i] === d) && kd[kd.length - 1] === headDim && kd[kd.length - 2] > 0;
    if (!ok) {
      throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: k is [${kd.join(', ')}], expected ${layout}`, { tensor: 'k', dims: [...kd] });
    }
    const vd = (v as DeviceTensor).dims;
    if (vd.length !== kd.length || vd.some((d, i) => d !== kd[i])) {
      throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: v is [${vd.join(', ')}] but k is [${kd.join(', ')}] (both ${layout})`, { tensor: 'v', dims: [...vd] });
    }
    return kd[kd.length - 2];
  }

  #live(method: string): void {
    if (this.#disposed) throw new QattnError('ERR_QATTN_DISPOSED', `KVCache.${method}: the cache has been disposed`);
  }

  #throwIfBroken(): void {
    if (this.#broken) {
      throw new QattnError('ERR_QATTN_DEVICE', `kv-cache: an earlier device job failed, the cache is unusable: ${this.#broken.message}`, {}, { cause: this.#broken });
    }
  }

  #checkIdle(method: string): void {
    this.#throwIfBroken();
    if (this.#pendingDeviceAppend) {
      throw new QattnError('ERR_QATTN_UNSUPPORTED', `KVCache.${method}: an append of device tensors is still validating its input on the GPU: await it first`, {
        backend: 'cuda',
      });
    }
  }

}
