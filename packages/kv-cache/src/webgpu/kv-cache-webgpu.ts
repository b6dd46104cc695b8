/// <reference types="@webgpu/types" />
import { QattnError, assertFinite, assertFloat32Array, unsharedView } from '@qattn/quant-core';
import { BufferUsage, type GpuContext, assertAlive } from '@qattn/webgpu-runtime';
import { hadamardSigns } from '../hadamard.js';
import type { KVAppendOptions, KVCache, KVCacheMemory } from '../kv-cache.js';
import { type KVCacheStorage, tokenPlacement } from '../layout.js';
import type { KVCacheConfig, PageBits } from '../options.js';
import { type AppendedSequence, encodeAppend } from './append-pass.js';
import { BufferSet, GpuTensorStore, type WebGpuKVCacheStorage } from './device-storage.js';
import { readSequenceFromStorage } from '../read-storage.js';
import { downloadStorage } from './download.js';
import { appendSequence, checkSequence } from '../sequence-args.js';

/**
 * Options of {@link WebGpuKVCache.append}: with GPUBuffer inputs, `tokens` (tokens per sequence) is required, since a
 * buffer's size may be padded.
 */
export interface WebGpuAppendOptions extends KVAppendOptions {
  tokens?: number;
}

interface GpuState {
  readonly buffers: BufferSet;
  readonly lengths: GPUBuffer; // i32 [batch]
  readonly kMean: GPUBuffer; // f32 [batch, kvHeads, headDim]
  readonly signs: GPUBuffer | null; // f32 [headDim]
  readonly hostLengths: Int32Array;
  readonly k: GpuTensorStore;
  readonly v: GpuTensorStore;
}

/**
 * The `webgpu` backend of the KV cache: the layout of `KVCacheStorage` in GPU buffers ({@link WebGpuKVCacheStorage}),
 * appended and compressed by compute shaders that run the CPU cache's math in f32 (kernels/). `append` validates on
 * the host, reserves pages with the host allocator, then encodes and submits the kernels without waiting for them.
 *
 * The CPU oracle's synchronous `storage()` and `read()` cannot return device data: they throw `ERR_QATTN_UNSUPPORTED`;
 * use `await downloadStorage()` and `await readAsync()`. `storageOnDevice()` is what decode kernels bind.
 */
export class WebGpuKVCache implements KVCache {
  readonly backend = 'webgpu' as const;
  readonly config: KVCacheConfig;
  readonly context: GpuContext;
  #state: GpuState | null;

  constructor(context: GpuContext, config: KVCacheConfig) {
    this.context = context;
    this.config = config;
    const { batch, kvHeads, headDim, pageSize, sinkTokens, capacity } = config;
    const maxPages = capacity === null ? 0 : tokenPlacement(capacity, sinkTokens, pageSize).pages;
    const buffers = new BufferSet(context);
    const signs = config.hadamard ? buffers.create(headDim * 4, 'rotation signs') : null;
    if (signs) context.device.queue.writeBuffer(signs, 0, hadamardSigns(headDim) as Float32Array<ArrayBuffer>);
    const lengths = buffers.create(batch * 4, 'lengths');
    const kMean = buffers.create(batch * kvHeads * headDim * 4, 'k mean');
    this.#state = {
      buffers,
      lengths,
      kMean,
      signs,
      hostLengths: new Int32Array(batch),
      // K: token-major pages, step/zero per channel; V: channel-major pages, step/zero per token (as the CPU cache).
      k: new GpuTensorStore(context, buffers, config, 'token', config.lowBitFraction.k, maxPages),
      v: new GpuTensorStore(context, buffers, config, 'channel', config.lowBitFraction.v, maxPages),
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
    return Array.from(this.#live('lengths').hostLengths);
  }

  get length(): number {
    return Math.max(0, ...this.#live('length').hostLengths);
  }

  /**
   * Appends tokens, as the CPU cache does (see `KVCache.append`): k and v are Float32Arrays `[batch, kvHeads, tokens,
   * headDim]`, or `[kvHeads, tokens, headDim]` with `{ sequence }` — or GPUBuffers (usage STORAGE) holding float32
   * data of that layout, with `{ tokens }` saying how many tokens each sequence gets. Device inputs are checked for
   * size and usage but not for NaN/Infinity (that would need a read-back per step); typed arrays are checked fully.
   * Everything is validated before anything changes; the kernels are submitted without waiting for them.
   */
  append(k: Float32Array | GPUBuffer, v: Float32Array | GPUBuffer, options?: WebGpuAppendOptions): void {
    const state = this.#live('append');
    assertAlive(this.context, 'KVCache.append');
    const { batch, kvHeads, headDim, pageSize, sinkTokens, capacity } = this.config;
    const sequence = appendSequence(this.config.batch, options, ['sequence', 'tokens']);
    const targets = sequence === undefined ? Array.from({ length: batch }, (_, b) => b) : [sequence];
    const layout = sequence === undefined ? `[batch, kvHeads, tokens, headDim] = [${batch}, ${kvHeads}, tokens, ${headDim}]` : `[kvHeads, tokens, headDim] = [${kvHeads}, tokens, ${headDim}]`;
    const rowElements = targets.length * kvHeads * headDim;
    const onDevice = !(k instanceof Float32Array) || !(v instanceof Float32Array);
    let tokens: number;
    if (onDevice) {
      tokens = this.#deviceTokens(k, v, options?.tokens, rowElements, layout);
    } else {
      assertFloat32Array('k', k);
      assertFloat32Array('v', v);
      tokens = k.length / rowElements;
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
      if (options?.tokens !== undefined && options.tokens !== tokens) {
        throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: options.tokens is ${options.tokens} but k holds ${tokens} tokens of ${layout}`, { tensor: 'k' });
      }
      assertFinite('k', k);
      assertFinite('v', v);
    }

    const sequences: AppendedSequence[] = [];
    let newPages = 0;
    let maxPages = 0;
    for (const b of targets) {
      const before = state.hostLengths[b];
      const after = before + tokens;
      if (capacity !== null && after > capacity) {
        throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: sequence ${b} holds ${before} tokens; ${tokens} more exceed its capacity of ${capacity}`, {
          sequence: b,
          length: before,
          tokens,
          capacity,
        });
      }
      const pagesBefore = tokenPlacement(before, sinkTokens, pageSize).pages;
      const pagesAfter = tokenPlacement(after, sinkTokens, pageSize).pages;
      newPages += pagesAfter - pagesBefore;
      maxPages = Math.max(maxPages, pagesAfter);
      sequences.push({ b, lengthBefore: before, pagesBefore, pagesAfter });
    }

    // Validated: from here on the cache changes.
    const { device } = this.context;
    const encoder = device.createCommandEncoder({ label: 'qattn kv-cache append' });
    const retired: GPUBuffer[] = [];
    state.k.reserve(newPages, maxPages, encoder, retired);
    state.v.reserve(newPages, maxPages, encoder, retired);
    const jobSlots = { k: [] as Int32Array[], v: [] as Int32Array[] };
    for (const s of sequences) {
      for (let page = s.pagesBefore; page < s.pagesAfter; page++) {
        jobSlots.k.push(state.k.allocatePage(s.b, page));
        jobSlots.v.push(state.v.allocatePage(s.b, page));
      }
    }
    const transient: GPUBuffer[] = [];
    let inputs: { k: GPUBuffer; v: GPUBuffer };
    if (onDevice) {
      inputs = { k: k as GPUBuffer, v: v as GPUBuffer };
    } else {
      inputs = { k: state.buffers.create((k as Float32Array).byteLength, 'append k input'), v: state.buffers.create((v as Float32Array).byteLength, 'append v input') };
      transient.push(inputs.k, inputs.v);
      // Dawn's writeBuffer in Node crashes the process on a view over a SharedArrayBuffer (and rejects the buffer
      // itself): such arrays go up as private copies.
      device.queue.writeBuffer(inputs.k, 0, unsharedView(k as Float32Array));
      device.queue.writeBuffer(inputs.v, 0, unsharedView(v as Float32Array));
    }
    encodeAppend(this.context, encoder, this.config, { k: state.k, v: state.v, kMean: state.kMean, signs: state.signs }, inputs, sequences, tokens, jobSlots, state.buffers, transient);
    for (const s of sequences) state.hostLengths[s.b] = s.lengthBefore + tokens;
    device.queue.writeBuffer(state.lengths, 0, state.hostLengths as Int32Array<ArrayBuffer>);
    device.queue.submit([encoder.finish()]);
    // Destroying a buffer after its last submission is safe: WebGPU frees it once that work has run.
    for (const buffer of [...retired, ...transient]) state.buffers.destroy(buffer);
  }

  /** Synchronous reads cannot reach device memory: use {@link readAsync}. */
  read(): { k: Float32Array; v: Float32Array } {
    this.#live('read');
    throw new QattnError('ERR_QATTN_UNSUPPORTED', 'KVCache.read: a webgpu cache lives in device memory; use `await cache.readAsync(sequence)`', { backend: 'webgpu' });
  }

  /** Sequence `sequence`'s K and V dequantized to float32 `[kvHeads, length, headDim]`, as the CPU cache's `read`. */
  async readAsync(sequence = 0): Promise<{ k: Float32Array; v: Float32Array }> {
    this.#live('readAsync');
    checkSequence(this.config.batch, 'readAsync', sequence);
    return readSequenceFromStorage(await this.downloadStorage(), sequence);
  }

  memory(): KVCacheMemory {
    const state = this.#live('memory');
    const { kvHeads, headDim, pageSize, sinkTokens } = this.config;
    const parts = {
      pages: state.k.poolBytes() + state.v.poolBytes(),
      sinks: state.k.sink.size + state.v.sink.size,
      buffers: state.k.bufferCodes.size + state.k.bufferScales.size + state.v.bufferCodes.size + state.v.bufferScales.size,
      tables: state.k.tableBytes() + state.v.tableBytes() + state.lengths.size + state.kMean.size + (state.signs?.size ?? 0),
    };
    const allocatedBytes = parts.pages + parts.sinks + parts.buffers + parts.tables;
    const tokens = { total: 0, sink: 0, paged: 0, buffered: 0 };
    for (const length of state.hostLengths) {
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
    const { batch, kvHeads, headDim, sinkTokens, pageSize } = this.config;
    const encoder = this.context.device.createCommandEncoder({ label: 'qattn kv-cache clear' });
    for (let b = 0; b < batch; b++) {
      if (sequence !== undefined && b !== sequence) continue;
      const pages = tokenPlacement(state.hostLengths[b], sinkTokens, pageSize).pages;
      state.k.releaseSequence(b, pages);
      state.v.releaseSequence(b, pages);
      state.hostLengths[b] = 0;
      encoder.clearBuffer(state.kMean, b * kvHeads * headDim * 4, kvHeads * headDim * 4);
    }
    this.context.device.queue.writeBuffer(state.lengths, 0, state.hostLengths as Int32Array<ArrayBuffer>);
    this.context.device.queue.submit([encoder.finish()]);
  }

  /** The CPU oracle's synchronous storage view cannot hold device memory: use {@link downloadStorage}. */
  storage(): KVCacheStorage {
    this.#live('storage');
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      'KVCache.storage: a webgpu cache lives in device memory; use `await cache.downloadStorage()` for a host copy in the same layout',
      { backend: 'webgpu' },
    );
  }

  /** A host copy of the cache's storage in the CPU layout (`KVCacheStorage`), read back from the device. */
  async downloadStorage(): Promise<KVCacheStorage> {
    return downloadStorage(this.context, this.storageOnDevice());
  }

  /** The device buffers decode kernels bind ({@link WebGpuKVCacheStorage}); valid until the next append or clear. */
  storageOnDevice(): WebGpuKVCacheStorage {
    const state = this.#live('storageOnDevice');
    return {
      config: this.config,
      context: this.context,
      maxPages: state.k.maxPages,
      lengths: state.lengths,
      kMean: state.kMean,
      rotationSigns: state.signs,
      k: state.k.storage(),
      v: state.v.storage(),
      hostLengths: state.hostLengths,
    };
  }

  /** GPU buffers the cache holds (tests: 0 after dispose). */
  get liveBuffers(): number {
    return this.#state?.buffers.count ?? 0;
  }

  /** Destroys every GPU buffer of the cache. Idempotent. */
  dispose(): void {
    this.#state?.buffers.dispose();
    this.#state = null;
  }

  #live(method: string): GpuState {
    if (this.#state === null) {
      throw new QattnError('ERR_QATTN_DISPOSED', `KVCache.${method}: the cache has been disposed`);
    }
    return this.#state;
  }

  #deviceTokens(k: unknown, v: unknown, tokens: unknown, rowElements: number, layout: string): number {
    for (const [name, buffer] of [['k', k], ['v', v]] as const) {
      const candidate = buffer as Partial<GPUBuffer> | null;
      if (typeof candidate !== 'object' || candidate === null || typeof candidate.size !== 'number' || typeof candidate.usage !== 'number' || typeof candidate.destroy !== 'function') {
        throw new QattnError('ERR_QATTN_DTYPE', `KVCache.append: ${name} must be a Float32Array or a GPUBuffer (k and v alike)`, { tensor: name });
      }
      if ((candidate.usage & BufferUsage.STORAGE) === 0) {
        throw new QattnError('ERR_QATTN_OPTION', `KVCache.append: the ${name} GPUBuffer needs GPUBufferUsage.STORAGE`, { tensor: name });
      }
    }
    if (typeof tokens !== 'number' || !Number.isInteger(tokens) || tokens <= 0) {
      throw new QattnError('ERR_QATTN_OPTION', `KVCache.append: GPUBuffer inputs need options.tokens, a positive integer (tokens per sequence of ${layout}), got ${String(tokens)}`, {
        option: 'tokens',
      });
    }
    for (const [name, buffer] of [['k', k], ['v', v]] as const) {
      const bytes = tokens * rowElements * 4;
      if ((buffer as GPUBuffer).size < bytes) {
        throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: the ${name} GPUBuffer has ${(buffer as GPUBuffer).size} bytes; ${tokens} tokens of ${layout} in float32 need ${bytes}`, {
          tensor: name,
        });
      }
    }
    return tokens;
  }


}

