import { QattnError, assertFinite, assertFloat32Array } from '@qattn/quant-core';
import { hadamardRotate, hadamardSigns, hadamardUnrotate } from '../hadamard.js';
import type { KVAppendOptions, KVCache, KVCacheMemory } from '../kv-cache.js';
import { type KVCacheStorage, tokenPlacement } from '../layout.js';
import type { KVCacheConfig, PageBits } from '../options.js';
import { TensorStore } from '../tensor-store.js';
import { appendSequence, checkSequence } from '../sequence-args.js';

interface CpuState {
  readonly lengths: Int32Array; // [batch]
  readonly kMean: Float32Array; // [batch, kvHeads, headDim]
  readonly k: TensorStore;
  readonly v: TensorStore;
}

/**
 * The `cpu` backend of the KV cache: the layout of {@link KVCacheStorage} in plain typed arrays, and the oracle the
 * GPU backends' append and compression kernels are checked against.
 */
export class CpuKVCache implements KVCache {
  readonly backend = 'cpu' as const;
  readonly config: KVCacheConfig;
  readonly #signs: Float32Array | null;
  readonly #row: Float64Array; // [headDim] scratch
  #state: CpuState | null;

  constructor(config: KVCacheConfig) {
    this.config = config;
    const { batch, headDim, pageSize, sinkTokens, capacity } = config;
    const maxPages = capacity === null ? 0 : tokenPlacement(capacity, sinkTokens, pageSize).pages;
    this.#signs = config.hadamard ? hadamardSigns(headDim) : null;
    this.#row = new Float64Array(headDim);
    this.#state = {
      lengths: new Int32Array(batch),
      kMean: new Float32Array(batch * config.kvHeads * headDim),
      // K: token-major pages, step/zero per channel; V: channel-major pages, step/zero per token (the README's table).
      k: new TensorStore(config, 'token', config.lowBitFraction.k, maxPages),
      v: new TensorStore(config, 'channel', config.lowBitFraction.v, maxPages),
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
    return this.#state === null;
  }

  get lengths(): readonly number[] {
    return Array.from(this.#live('lengths').lengths);
  }

  get length(): number {
    return Math.max(0, ...this.#live('length').lengths);
  }

  append(k: Float32Array, v: Float32Array, options?: KVAppendOptions): void {
    const state = this.#live('append');
    const { batch, kvHeads, headDim, pageSize, sinkTokens, capacity } = this.config;
    const sequence = appendSequence(this.config.batch, options);
    const sequences = sequence === undefined ? Array.from({ length: batch }, (_, b) => b) : [sequence];
    const layout = sequence === undefined ? `[batch, kvHeads, tokens, headDim] = [${batch}, ${kvHeads}, tokens, ${headDim}]` : `[kvHeads, tokens, headDim] = [${kvHeads}, tokens, ${headDim}]`;
    const rowsPerToken = sequences.length * kvHeads;
    assertFloat32Array('k', k);
    assertFloat32Array('v', v);
    const tokens = k.length / (rowsPerToken * headDim);
    if (!Number.isInteger(tokens) || tokens === 0) {
      throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: k has ${k.length} elements, not a positive whole number of tokens of ${layout}`, {
        tensor: 'k',
        length: k.length,
      });
    }
    if (v.length !== k.length) {
      throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: v has ${v.length} elements but k has ${k.length} (both ${layout})`, {
        tensor: 'v',
        length: v.length,
        expected: k.length,
      });
    }
    assertFinite('k', k);
    assertFinite('v', v);

    // Room for the new pages (and the capacity check) before anything changes.
    let newPages = 0;
    let maxPages = 0;
    for (const b of sequences) {
      const after = state.lengths[b] + tokens;
      if (capacity !== null && after > capacity) {
        throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: sequence ${b} holds ${state.lengths[b]} tokens; ${tokens} more exceed its capacity of ${capacity}`, {
          sequence: b,
          length: state.lengths[b],
          tokens,
          capacity,
        });
      }
      const pagesAfter = tokenPlacement(after, sinkTokens, pageSize).pages;
      newPages += pagesAfter - tokenPlacement(state.lengths[b], sinkTokens, pageSize).pages;
      maxPages = Math.max(maxPages, pagesAfter);
    }
    state.k.reserve(newPages, maxPages);
    state.v.reserve(newPages, maxPages);

    sequences.forEach((b, index) => {
      for (let t = 0; t < tokens; t++) {
        const position = state.lengths[b];
        for (let g = 0; g < kvHeads; g++) {
          const source = ((index * kvHeads + g) * tokens + t) * headDim;
          const kRow = this.#rotated(k, source);
          state.k.writeToken(b, g, position, kRow);
          const mean = state.kMean.subarray((b * kvHeads + g) * headDim, (b * kvHeads + g + 1) * headDim);
          for (let d = 0; d < headDim; d++) mean[d] += (kRow[d] - mean[d]) / (position + 1);
          state.v.writeToken(b, g, position, this.#rotated(v, source));
        }
        state.lengths[b] = position + 1;
        if (position >= sinkTokens && (position - sinkTokens) % pageSize === pageSize - 1) {
          const page = (position - sinkTokens - (pageSize - 1)) / pageSize;
          state.k.flushPage(b, page);
          state.v.flushPage(b, page);
        }
      }
    });
  }

  read(sequence = 0): { k: Float32Array; v: Float32Array } {
    const state = this.#live('read');
    checkSequence(this.config.batch, 'read', sequence);
    const { kvHeads, headDim } = this.config;
    const length = state.lengths[sequence];
    const k = new Float32Array(kvHeads * length * headDim);
    const v = new Float32Array(kvHeads * length * headDim);
    state.k.readSequence(sequence, length, k);
    state.v.readSequence(sequence, length, v);
    if (this.#signs) for (const x of [k, v]) this.#unrotateRows(x);
    return { k, v };
  }
  async readAsync(sequence = 0): Promise<{ k: Float32Array; v: Float32Array }> {
    return this.read(sequence);
  }


  memory(): KVCacheMemory {
    const state = this.#live('memory');
    const { kvHeads, headDim, pageSize, sinkTokens } = this.config;
    const kBytes = state.k.bytes();
    const vBytes = state.v.bytes();
    const parts = {
      pages: kBytes.pages + vBytes.pages,
      sinks: kBytes.sink + vBytes.sink,
      buffers: kBytes.buffer + vBytes.buffer,
      tables: kBytes.pageTable + vBytes.pageTable + state.lengths.byteLength + state.kMean.byteLength,
    };
    const allocatedBytes = parts.pages + parts.sinks + parts.buffers + parts.tables;
    const tokens = { total: 0, sink: 0, paged: 0, buffered: 0 };
    for (const length of state.lengths) {
      const placement = tokenPlacement(length, sinkTokens, pageSize);
      tokens.total += length;
      tokens.sink += placement.sinkTokens;
      tokens.paged += placement.pages * pageSize;
      tokens.buffered += placement.bufferTokens;
    }
    const pages: Partial<Record<PageBits, number>> = {};
    for (const counts of [state.k.pageCounts(), state.v.pageCounts()]) {
      for (const [bits, count] of Object.entries(counts)) pages[Number(bits) as PageBits] = (pages[Number(bits) as PageBits] ?? 0) + count;
    }
    const fp16Bytes = 2 * 2 * kvHeads * headDim * tokens.total;
    return { allocatedBytes, fp16Bytes, compressionRatio: tokens.total === 0 ? 0 : fp16Bytes / allocatedBytes, parts, tokens, pages };
  }

  clear(sequence?: number): void {
    const state = this.#live('clear');
    if (sequence !== undefined) checkSequence(this.config.batch, 'clear', sequence);
    const { sinkTokens, pageSize } = this.config;
    for (let b = 0; b < this.config.batch; b++) {
      if (sequence !== undefined && b !== sequence) continue;
      const pages = tokenPlacement(state.lengths[b], sinkTokens, pageSize).pages;
      state.k.releaseSequence(b, pages);
      state.v.releaseSequence(b, pages);
      state.lengths[b] = 0;
      state.kMean.fill(0, b * this.config.kvHeads * this.config.headDim, (b + 1) * this.config.kvHeads * this.config.headDim);
    }
  }

  storage(): KVCacheStorage {
    const state = this.#live('storage');
    return {
      config: this.config,
      lengths: state.lengths,
      kMean: state.kMean,
      maxPages: state.k.maxPages,
      rotationSigns: this.#signs,
      k: state.k.storage(),
      v: state.v.storage(),
    };
  }

  dispose(): void {
    this.#state = null;
  }

  #live(method: string): CpuState {
    if (this.#state === null) {
      throw new QattnError('ERR_QATTN_DISPOSED', `KVCache.${method}: the cache has been disposed`);
    }
    return this.#state;
  }



  /** Row `[headDim]` of `source` at `offset` in float64, rotated when the cache rotates (scratch, overwritten per call). */
  #rotated(source: Float32Array, offset: number): Float64Array {
    const row = this.#row;
    for (let d = 0; d < row.length; d++) row[d] = source[offset + d];
    if (this.#signs) hadamardRotate(row, this.#signs);
    return row;
  }

  #unrotateRows(x: Float32Array): void {
    const row = this.#row;
    const headDim = row.length;
    for (let start = 0; start < x.length; start += headDim) {
      for (let d = 0; d < headDim; d++) row[d] = x[start + d];
      hadamardUnrotate(row, this.#signs as Float32Array);
      for (let d = 0; d < headDim; d++) x[start + d] = row[d];
    }
  }
}
