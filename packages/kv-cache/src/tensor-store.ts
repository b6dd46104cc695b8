import { type KVTensorStorage, lowBitHeads, tokenPlacement } from './layout.js';
import { quantizeRowInt8, requantizeBlockInt8 } from './int8-rows.js';
import type { KVCacheConfig, PageBits } from './options.js';
import { choosePageBits, decodePageInt8, pageMatrixShape, writeInt8Page, writeProgressivePage } from './page-codec.js';
import { PagePool } from './page-pool.js';

/**
 * The storage of one tensor (K or V) on the CPU — the arrays of {@link KVTensorStorage} and the operations that write
 * them: a token into the sink or the buffer, a full buffer into pages. Callers validate; nothing here checks input.
 */
export class TensorStore {
  readonly pageMajor: 'token' | 'channel';
  readonly #config: KVCacheConfig;
  readonly #lowBitFraction: number;
  readonly #pools: Partial<Record<PageBits, PagePool>> = {};
  readonly #sink: Float32Array; // [batch, kvHeads, sinkTokens, headDim]
  readonly #bufferCodes: Int8Array; // [batch, kvHeads, pageSize, headDim]
  readonly #bufferScales: Float32Array; // [batch, kvHeads, pageSize]
  #pageTable: Int32Array; // [batch, kvHeads, maxPages]
  #pageBits: Uint8Array; // [batch, kvHeads, maxPages]
  #maxPages: number;
  // Flush scratch: one page's INT8 block per kv head, and its transpose.
  readonly #blockCodes: Int8Array[];
  readonly #transposed: Int8Array;

  constructor(config: KVCacheConfig, pageMajor: 'token' | 'channel', lowBitFraction: number, maxPages: number) {
    const { batch, kvHeads, headDim, pageSize, sinkTokens, capacity } = config;
    this.pageMajor = pageMajor;
    this.#config = config;
    this.#lowBitFraction = lowBitFraction;
    this.#sink = new Float32Array(batch * kvHeads * sinkTokens * headDim);
    this.#bufferCodes = new Int8Array(batch * kvHeads * pageSize * headDim);
    this.#bufferScales = new Float32Array(batch * kvHeads * pageSize);
    this.#maxPages = maxPages;
    this.#pageTable = new Int32Array(batch * kvHeads * maxPages).fill(-1);
    this.#pageBits = new Uint8Array(batch * kvHeads * maxPages);
    const growable = capacity === null;
    const meta = pageMajor === 'token' ? headDim : pageSize; // step/zero per stored column
    const pageSlots = batch * maxPages;
    if (config.bits === 8) {
      this.#pools[8] = new PagePool(8, pageSize, headDim, 0, pageSize, pageSlots * kvHeads, growable);
    } else {
      const low = lowBitHeads(lowBitFraction, kvHeads);
      this.#pools[4] = new PagePool(4, pageSize, headDim, meta, 1, pageSlots * (kvHeads - low), growable);
      if (low > 0) this.#pools[2] = new PagePool(2, pageSize, headDim, meta, 1, pageSlots * low, growable);
    }
    this.#blockCodes = Array.from({ length: kvHeads }, () => new Int8Array(pageSize * headDim));
    this.#transposed = new Int8Array(pageSize * headDim);
  }

  get maxPages(): number {
    return this.#maxPages;
  }

  /**
   * Makes room for `pages` new pages (each one slot per kv head, split between the widths as the head-wise mix
   * dictates) and for page tables of `maxPages` entries. Grows nothing in a fixed-capacity cache.
   */
  reserve(pages: number, maxPages: number): void {
    const { kvHeads } = this.#config;
    if (this.#config.bits === 8) {
      this.#pools[8]?.reserve(pages * kvHeads);
    } else {
      const low = lowBitHeads(this.#lowBitFraction, kvHeads);
      this.#pools[4]?.reserve(pages * (kvHeads - low));
      this.#pools[2]?.reserve(pages * low);
    }
    if (maxPages > this.#maxPages) this.#growPageTables(Math.max(maxPages, Math.ceil(this.#maxPages * 1.5)));
  }

  /** Stores token `position` of sequence b, kv head g: `row` `[headDim]` (already rotated), into the sink or buffer. */
  writeToken(b: number, g: number, position: number, row: Float64Array): void {
    const { kvHeads, headDim, pageSize, sinkTokens } = this.#config;
    const group = b * kvHeads + g;
    if (position < sinkTokens) {
      const start = (group * sinkTokens + position) * headDim;
      for (let d = 0; d < headDim; d++) this.#sink[start + d] = row[d];
      return;
    }
    const slot = (position - sinkTokens) % pageSize;
    this.#bufferScales[group * pageSize + slot] = quantizeRowInt8(row, headDim, this.#bufferCodes, (group * pageSize + slot) * headDim);
  }

  /**
   * Moves sequence b's full buffer into page `page` of every kv head: INT8 pages keep the rows and their per-token
   * scales; INT4/INT2 pages re-quantize the block to one INT8 scale, pick each head's width by priority and compress
   * per column of the stored matrix (K: per channel, V: per token). V is transposed to channel-major on the way.
   */
  flushPage(b: number, page: number): void {
    const { kvHeads, headDim, pageSize } = this.#config;
    const { rows, cols } = pageMatrixShape(this.pageMajor, pageSize, headDim);
    const blockScales = new Float64Array(kvHeads);
    for (let g = 0; g < kvHeads; g++) {
      const group = b * kvHeads + g;
      const codes = this.#blockCodes[g];
      if (this.#config.bits === 8) {
        codes.set(this.#bufferCodes.subarray(group * pageSize * headDim, (group + 1) * pageSize * headDim));
      } else {
        blockScales[g] = requantizeBlockInt8(this.#bufferCodes, group * pageSize * headDim, this.#bufferScales, group * pageSize, pageSize, headDim, codes);
      }
    }
    const bits = this.#config.bits === 8 ? new Uint8Array(kvHeads).fill(8) : choosePageBits(this.#blockCodes, blockScales, this.#lowBitFraction);
    for (let g = 0; g < kvHeads; g++) {
      const group = b * kvHeads + g;
      const pool = this.#pools[bits[g] as PageBits];
      if (!pool) throw new Error(`kv-cache: no ${bits[g]}-bit pool`); // unreachable: pools follow the config
      const slot = pool.allocate();
      const matrix = this.pageMajor === 'token' ? this.#blockCodes[g] : this.#transpose(this.#blockCodes[g], pageSize, headDim);
      if (pool.bits === 8) {
        writeInt8Page(pool.storage(), slot, matrix, this.#bufferScales.subarray(group * pageSize, (group + 1) * pageSize));
      } else {
        writeProgressivePage(pool.storage(), slot, matrix, rows, cols, blockScales[g]);
      }
      this.#pageTable[group * this.#maxPages + page] = slot;
      this.#pageBits[group * this.#maxPages + page] = pool.bits;
    }
  }

  /** Frees sequence b's pages (its first `pages` entries) back to their pools. */
  releaseSequence(b: number, pages: number): void {
    const { kvHeads } = this.#config;
    for (let g = 0; g < kvHeads; g++) {
      const row = (b * kvHeads + g) * this.#maxPages;
      for (let p = 0; p < pages; p++) {
        this.#pools[this.#pageBits[row + p] as PageBits]?.release(this.#pageTable[row + p]);
        this.#pageTable[row + p] = -1;
        this.#pageBits[row + p] = 0;
      }
    }
  }

  /**
   * Dequantizes sequence b's `length` tokens into `out` `[kvHeads, length, headDim]` (still rotated): sink rows as
   * stored, page rows as INT8 · scale, buffer rows as code · their scale.
   */
  readSequence(b: number, length: number, out: Float32Array): void {
    const { kvHeads, headDim, pageSize, sinkTokens } = this.#config;
    const placement = tokenPlacement(length, sinkTokens, pageSize);
    const { rows, cols } = pageMatrixShape(this.pageMajor, pageSize, headDim);
    const page = new Int8Array(pageSize * headDim);
    for (let g = 0; g < kvHeads; g++) {
      const group = b * kvHeads + g;
      const outBase = g * length * headDim;
      out.set(this.#sink.subarray(group * sinkTokens * headDim, (group * sinkTokens + placement.sinkTokens) * headDim), outBase);
      for (let p = 0; p < placement.pages; p++) {
        const pool = this.#pools[this.#pageBits[group * this.#maxPages + p] as PageBits]?.storage();
        if (!pool) throw new Error('kv-cache: page without a pool'); // unreachable
        const slot = this.#pageTable[group * this.#maxPages + p];
        decodePageInt8(pool, slot, rows, cols, page);
        for (let t = 0; t < pageSize; t++) {
          const scale = pool.scalesPerPage === 1 ? pool.scales[slot] : pool.scales[slot * pageSize + t];
          const outRow = outBase + (sinkTokens + p * pageSize + t) * headDim;
          for (let d = 0; d < headDim; d++) {
            out[outRow + d] = (this.pageMajor === 'token' ? page[t * headDim + d] : page[d * pageSize + t]) * scale;
          }
        }
      }
      const firstBuffered = sinkTokens + placement.pages * pageSize;
      for (let r = 0; r < placement.bufferTokens; r++) {
        const scale = this.#bufferScales[group * pageSize + r];
        const codes = (group * pageSize + r) * headDim;
        const outRow = outBase + (firstBuffered + r) * headDim;
        for (let d = 0; d < headDim; d++) out[outRow + d] = this.#bufferCodes[codes + d] * scale;
      }
    }
  }

  /** The live arrays (valid until the next {@link reserve} that grows something). */
  storage(): KVTensorStorage {
    const pools: Partial<Record<PageBits, ReturnType<PagePool['storage']>>> = {};
    for (const pool of Object.values(this.#pools)) pools[pool.bits] = pool.storage();
    return {
      pageMajor: this.pageMajor,
      sink: this.#sink,
      bufferCodes: this.#bufferCodes,
      bufferScales: this.#bufferScales,
      pageTable: this.#pageTable,
      pageBits: this.#pageBits,
      pools,
    };
  }

  /** Bytes allocated for this tensor, by part. */
  bytes(): { sink: number; buffer: number; pages: number; pageTable: number } {
    let pages = 0;
    for (const pool of Object.values(this.#pools)) pages += pool.bytes();
    return {
      sink: this.#sink.byteLength,
      buffer: this.#bufferCodes.byteLength + this.#bufferScales.byteLength,
      pages,
      pageTable: this.#pageTable.byteLength + this.#pageBits.byteLength,
    };
  }

  /** Pages in use, by width (one per kv head and sequence page). */
  pageCounts(): Partial<Record<PageBits, number>> {
    const counts: Partial<Record<PageBits, number>> = {};
    for (const pool of Object.values(this.#pools)) counts[pool.bits] = pool.used;
    return counts;
  }

  #transpose(matrix: Int8Array, rows: number, cols: number): Int8Array {
    const out = this.#transposed;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[r * cols + c];
    return out;
  }

  #growPageTables(maxPages: number): void {
    const { batch, kvHeads } = this.#config;
    const table = new Int32Array(batch * kvHeads * maxPages).fill(-1);
    const bits = new Uint8Array(batch * kvHeads * maxPages);
    for (let group = 0; group < batch * kvHeads; group++) {
      table.set(this.#pageTable.subarray(group * this.#maxPages, (group + 1) * this.#maxPages), group * maxPages);
      bits.set(this.#pageBits.subarray(group * this.#maxPages, (group + 1) * this.#maxPages), group * maxPages);
    }
    this.#pageTable = table;
    this.#pageBits = bits;
    this.#maxPages = maxPages;
  }
}
