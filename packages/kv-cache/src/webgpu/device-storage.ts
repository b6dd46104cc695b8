/// <reference types="@webgpu/types" />
import { BufferUsage, type GpuContext } from '@qattn/webgpu-runtime';
import { lowBitHeads } from '../layout.js';
import type { KVCacheConfig, PageBits } from '../options.js';
import { PagePool } from '../page-pool.js';

/**
 * A WebGPU cache's storage: the layout of `KVCacheStorage` (layout.ts; read it for what each array holds) in GPU
 * buffers. This is the contract between the cache (which writes it: append, page compression) and the decode kernels
 * of `@qattn/turbo-attn` (which read it); the CPU cache's `storage()` is its oracle. WGSL has no 8-bit types, so:
 *
 *   Int8Array / Uint8Array arrays (bufferCodes, step, zero)   packed 4 per u32 word, little-endian: byte i of the CPU
 *                                                              array is bits 8·(i mod 4) of word ⌊i/4⌋ — the same
 *                                                              bytes, so a download is a reinterpretation, not a copy
 *   pageBits (Uint8Array on the CPU)                           one u32 per entry
 *   page codes (Uint32Array), scales, sinks, kMean, lengths    as on the CPU (u32 / f32 / i32)
 *
 * Byte packing needs headDim % 4 == 0 (every row of the INT8 buffer and every K page's step/zero then fill whole
 * words; V's step/zero have pageSize entries, a multiple of 16). Every buffer has at least 4 bytes (WebGPU binds no
 * empty buffer); `memory()` counts the bytes actually allocated.
 *
 * The page allocator runs on the host (kv-cache's PagePool free lists); lengths and page tables are mirrored on the
 * host (`hostLengths`, `hostPageTable`, `hostPageBits`) and written with `queue.writeBuffer`, except the entries of
 * newly compressed pages, which the compression kernel writes itself: with head-wise mixed precision
 * (`lowBitFraction` > 0) the device decides which kv heads of a page get the 2-bit slots the host reserved for it, so
 * the host mirror then holds the same (width, slot) pairs per page in allocation order, a permutation over kv heads of
 * what the device holds. That is all the allocator needs (which slots to free); `downloadStorage()` returns the
 * device's tables.
 */
export interface WebGpuKVCacheStorage {
  readonly config: KVCacheConfig;
  readonly context: GpuContext;
  readonly maxPages: number;
  readonly lengths: GPUBuffer; // i32 [batch]
  readonly kMean: GPUBuffer; // f32 [batch, kvHeads, headDim]
  readonly rotationSigns: GPUBuffer | null; // f32 [headDim]
  readonly k: WebGpuKVTensorStorage;
  readonly v: WebGpuKVTensorStorage;
  readonly hostLengths: Int32Array;
}

/** One tensor's storage on the device (see {@link WebGpuKVCacheStorage} for the packing). */
export interface WebGpuKVTensorStorage {
  readonly pageMajor: 'token' | 'channel';
  readonly sink: GPUBuffer; // f32 [batch, kvHeads, sinkTokens, headDim]
  readonly bufferCodes: GPUBuffer; // u32 [batch, kvHeads, pageSize, headDim / 4] (int8 ×4)
  readonly bufferScales: GPUBuffer; // f32 [batch, kvHeads, pageSize]
  readonly pageTable: GPUBuffer; // i32 [batch, kvHeads, maxPages] (−1: no page)
  readonly pageBits: GPUBuffer; // u32 [batch, kvHeads, maxPages] (0: no page)
  readonly pools: Readonly<Partial<Record<PageBits, WebGpuPagePoolStorage>>>;
  readonly hostPageTable: Int32Array;
  readonly hostPageBits: Uint8Array;
}

/** Page slots of one width on the device (`PagePoolStorage` of layout.ts). */
export interface WebGpuPagePoolStorage {
  readonly bits: PageBits;
  readonly slots: number;
  readonly wordsPerPage: number;
  readonly metaPerPage: number;
  readonly scalesPerPage: number;
  readonly codes: GPUBuffer; // u32 [slots, wordsPerPage]
  readonly step: GPUBuffer; // u32 [slots, metaPerPage / 4] (u8 ×4); 4 bytes for INT8 pools
  readonly zero: GPUBuffer; // u32 [slots, metaPerPage / 4] (i8 ×4); 4 bytes for INT8 pools
  readonly scales: GPUBuffer; // f32 [slots, scalesPerPage]
}

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/**
 * The cache's GPU buffers, each registered so that {@link dispose} frees every one, and `bytes()` counts what is
 * allocated.
 */
export class BufferSet {
  readonly #live = new Set<GPUBuffer>();
  constructor(private readonly context: GpuContext) {}

  create(bytes: number, label: string, usage: number = STORAGE_USAGE): GPUBuffer {
    const buffer = this.context.device.createBuffer({ size: Math.max(4, Math.ceil(bytes / 4) * 4), usage, label: `qattn kv-cache ${label}` });
    this.#live.add(buffer);
    return buffer;
  }

  destroy(buffer: GPUBuffer): void {
    if (this.#live.delete(buffer)) buffer.destroy();
  }

  get bytes(): number {
    let total = 0;
    for (const buffer of this.#live) total += buffer.size;
    return total;
  }

  get count(): number {
    return this.#live.size;
  }

  dispose(): void {
    for (const buffer of this.#live) buffer.destroy();
    this.#live.clear();
  }
}

/**
 * A slot allocator of one width: kv-cache's {@link PagePool} with zero-sized pages, so its free list and growth policy
 * (lowest slot first; a growing pool takes max(needed, 1.5×)) run on the host without any host copy of the pages,
 * and GPU buffers sized from its `slots`.
 */
class GpuPagePool {
  readonly allocator: PagePool;
  #storage: WebGpuPagePoolStorage;

  constructor(
    private readonly buffers: BufferSet,
    readonly bits: PageBits,
    private readonly shape: { pageSize: number; headDim: number; metaPerPage: number; scalesPerPage: number },
    slots: number,
    growable: boolean,
  ) {
    this.allocator = new PagePool(bits, 0, shape.headDim, 0, 0, slots, growable);
    this.#storage = this.#allocate(slots);
  }

  get storage(): WebGpuPagePoolStorage {
    return this.#storage;
  }

  /** Makes room for `count` more pages; a grown pool's buffers are reallocated and copied by `encoder`. */
  reserve(count: number, encoder: GPUCommandEncoder, retired: GPUBuffer[]): void {
    const before = this.allocator.slots;
    this.allocator.reserve(count);
    if (this.allocator.slots === before) return;
    const old = this.#storage;
    const next = this.#allocate(this.allocator.slots);
    for (const name of ['codes', 'step', 'zero', 'scales'] as const) {
      encoder.copyBufferToBuffer(old[name], 0, next[name], 0, old[name].size);
      retired.push(old[name]);
    }
    this.#storage = next;
  }

  #allocate(slots: number): WebGpuPagePoolStorage {
    const { pageSize, headDim, metaPerPage, scalesPerPage } = this.shape;
    const wordsPerPage = (pageSize * headDim * this.bits) / 32;
    const label = `${this.bits}-bit pages`;
    return {
      bits: this.bits,
      slots,
      wordsPerPage,
      metaPerPage,
      scalesPerPage,
      codes: this.buffers.create(slots * wordsPerPage * 4, `${label} codes`),
      step: this.buffers.create(slots * metaPerPage, `${label} step`),
      zero: this.buffers.create(slots * metaPerPage, `${label} zero`),
      scales: this.buffers.create(slots * scalesPerPage * 4, `${label} scales`),
    };
  }
}

/**
 * One tensor (K or V) on the device: sink, INT8 buffer, page tables (mirrored on the host) and pools — TensorStore's
 * storage without its arithmetic, which runs in the append kernels.
 */
export class GpuTensorStore {
  readonly pageMajor: 'token' | 'channel';
  readonly pools: Partial<Record<PageBits, GpuPagePool>> = {};
  readonly sink: GPUBuffer;
  readonly bufferCodes: GPUBuffer;
  readonly bufferScales: GPUBuffer;
  /** kv heads per page stored at 2 bits (their slots come last in a page's allocation order). */
  readonly lowHeads: number;
  #pageTable: GPUBuffer;
  #pageBits: GPUBuffer;
  #hostPageTable: Int32Array;
  #hostPageBits: Uint8Array;
  #maxPages: number;

  constructor(
    private readonly context: GpuContext,
    private readonly buffers: BufferSet,
    private readonly config: KVCacheConfig,
    pageMajor: 'token' | 'channel',
    lowBitFraction: number,
    maxPages: number,
  ) {
    const { batch, kvHeads, headDim, pageSize, sinkTokens, capacity } = config;
    const name = pageMajor === 'token' ? 'k' : 'v';
    this.pageMajor = pageMajor;
    this.sink = buffers.create(batch * kvHeads * sinkTokens * headDim * 4, `${name} sink`);
    this.bufferCodes = buffers.create(batch * kvHeads * pageSize * headDim, `${name} buffer codes`);
    this.bufferScales = buffers.create(batch * kvHeads * pageSize * 4, `${name} buffer scales`);
    this.#maxPages = maxPages;
    this.#hostPageTable = new Int32Array(batch * kvHeads * maxPages).fill(-1);
    this.#hostPageBits = new Uint8Array(batch * kvHeads * maxPages);
    this.#pageTable = buffers.create(this.#hostPageTable.byteLength, `${name} page table`);
    this.#pageBits = buffers.create(this.#hostPageBits.length * 4, `${name} page bits`);
    this.#writeTables(0, batch * kvHeads);
    const growable = capacity === null;
    const meta = pageMajor === 'token' ? headDim : pageSize;
    const slotsPerHead = batch * maxPages;
    this.lowHeads = config.bits === 8 ? 0 : lowBitHeads(lowBitFraction, kvHeads);
    if (config.bits === 8) {
      this.pools[8] = new GpuPagePool(buffers, 8, { pageSize, headDim, metaPerPage: 0, scalesPerPage: pageSize }, slotsPerHead * kvHeads, growable);
    } else {
      this.pools[4] = new GpuPagePool(buffers, 4, { pageSize, headDim, metaPerPage: meta, scalesPerPage: 1 }, slotsPerHead * (kvHeads - this.lowHeads), growable);
      if (this.lowHeads > 0) {
        this.pools[2] = new GpuPagePool(buffers, 2, { pageSize, headDim, metaPerPage: meta, scalesPerPage: 1 }, slotsPerHead * this.lowHeads, growable);
      }
    }
  }

  get maxPages(): number {
    return this.#maxPages;
  }

  get pageTable(): GPUBuffer {
    return this.#pageTable;
  }

  get pageBits(): GPUBuffer {
    return this.#pageBits;
  }

  /** Widths of a page's kv-head slots in allocation order: the 4-bit (or 8-bit) ones first, then the 2-bit ones. */
  slotBits(): PageBits[] {
    const { kvHeads, bits } = this.config;
    if (bits === 8) return Array.from({ length: kvHeads }, () => 8);
    return Array.from({ length: kvHeads }, (_, i) => (i < kvHeads - this.lowHeads ? 4 : 2));
  }

  /**
   * Room for `pages` new pages and page tables of `maxPages` entries (TensorStore.reserve's policy). Grown buffers are
   * copied by `encoder`; the old ones go to `retired`, to be freed once the copies are submitted.
   */
  reserve(pages: number, maxPages: number, encoder: GPUCommandEncoder, retired: GPUBuffer[]): void {
    const counts: Partial<Record<PageBits, number>> = {};
    for (const bits of this.slotBits()) counts[bits] = (counts[bits] ?? 0) + pages;
    for (const [bits, count] of Object.entries(counts)) this.pools[Number(bits) as PageBits]?.reserve(count, encoder, retired);
    if (maxPages > this.#maxPages) this.#growPageTables(Math.max(maxPages, Math.ceil(this.#maxPages * 1.5)), encoder, retired);
  }

  /** Takes one slot per kv head for page `page` of sequence b (allocation order) and records it in the host mirror. */
  allocatePage(b: number, page: number): Int32Array {
    const { kvHeads } = this.config;
    const slots = new Int32Array(kvHeads);
    this.slotBits().forEach((bits, g) => {
      const pool = this.pools[bits];
      if (!pool) throw new Error(`kv-cache: no ${bits}-bit pool`); // unreachable: pools follow the config
      slots[g] = pool.allocator.allocate();
      this.#hostPageTable[(b * kvHeads + g) * this.#maxPages + page] = slots[g];
      this.#hostPageBits[(b * kvHeads + g) * this.#maxPages + page] = bits;
    });
    return slots;
  }

  /** Frees sequence b's first `pages` pages back to their pools and marks its page-table rows empty (host and device). */
  releaseSequence(b: number, pages: number): void {
    const { kvHeads } = this.config;
    for (let g = 0; g < kvHeads; g++) {
      const row = (b * kvHeads + g) * this.#maxPages;
      for (let p = 0; p < pages; p++) {
        this.pools[this.#hostPageBits[row + p] as PageBits]?.allocator.release(this.#hostPageTable[row + p]);
        this.#hostPageTable[row + p] = -1;
        this.#hostPageBits[row + p] = 0;
      }
    }
    this.#writeTables(b * kvHeads, (b + 1) * kvHeads);
  }

  storage(): WebGpuKVTensorStorage {
    const pools: Partial<Record<PageBits, WebGpuPagePoolStorage>> = {};
    for (const pool of Object.values(this.pools)) pools[pool.bits] = pool.storage;
    return {
      pageMajor: this.pageMajor,
      sink: this.sink,
      bufferCodes: this.bufferCodes,
      bufferScales: this.bufferScales,
      pageTable: this.#pageTable,
      pageBits: this.#pageBits,
      pools,
      hostPageTable: this.#hostPageTable,
      hostPageBits: this.#hostPageBits,
    };
  }

  /** Pages in use, by width. */
  pageCounts(): Partial<Record<PageBits, number>> {
    const counts: Partial<Record<PageBits, number>> = {};
    for (const pool of Object.values(this.pools)) counts[pool.bits] = pool.allocator.used;
    return counts;
  }

  /** Bytes of the page pools (codes, step, zero, scales of every slot). */
  poolBytes(): number {
    let bytes = 0;
    for (const pool of Object.values(this.pools)) for (const name of ['codes', 'step', 'zero', 'scales'] as const) bytes += pool.storage[name].size;
    return bytes;
  }

  /** Bytes of the page tables. */
  tableBytes(): number {
    return this.#pageTable.size + this.#pageBits.size;
  }

  /** Writes host-mirror rows [fromGroup, toGroup) of both page tables to the device. */
  #writeTables(fromGroup: number, toGroup: number): void {
    const { queue } = this.context.device;
    const start = fromGroup * this.#maxPages;
    const end = toGroup * this.#maxPages;
    if (end === start) return;
    queue.writeBuffer(this.#pageTable, start * 4, this.#hostPageTable as Int32Array<ArrayBuffer>, start, end - start);
    queue.writeBuffer(this.#pageBits, start * 4, Uint32Array.from(this.#hostPageBits.subarray(start, end)));
  }

  #growPageTables(maxPages: number, encoder: GPUCommandEncoder, retired: GPUBuffer[]): void {
    const { batch, kvHeads } = this.config;
    const name = this.pageMajor === 'token' ? 'k' : 'v';
    const oldMax = this.#maxPages;
    const table = new Int32Array(batch * kvHeads * maxPages).fill(-1);
    const bits = new Uint8Array(batch * kvHeads * maxPages);
    for (let group = 0; group < batch * kvHeads; group++) {
      table.set(this.#hostPageTable.subarray(group * oldMax, (group + 1) * oldMax), group * maxPages);
      bits.set(this.#hostPageBits.subarray(group * oldMax, (group + 1) * oldMax), group * maxPages);
    }
    const oldTable = this.#pageTable;
    const oldBits = this.#pageBits;
    this.#hostPageTable = table;
    this.#hostPageBits = bits;
    this.#maxPages = maxPages;
    this.#pageTable = this.buffers.create(table.byteLength, `${name} page table`);
    this.#pageBits = this.buffers.create(bits.length * 4, `${name} page bits`);
    // Empty rows from the host; the device's own entries (which mixed precision may have permuted) row by row.
    this.#writeTables(0, batch * kvHeads);
    if (oldMax > 0) {
      for (let group = 0; group < batch * kvHeads; group++) {
        encoder.copyBufferToBuffer(oldTable, group * oldMax * 4, this.#pageTable, group * maxPages * 4, oldMax * 4);
        encoder.copyBufferToBuffer(oldBits, group * oldMax * 4, this.#pageBits, group * maxPages * 4, oldMax * 4);
      }
    }
    retired.push(oldTable, oldBits);
  }
}
