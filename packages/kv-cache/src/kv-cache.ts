import type { BackendName } from '@qattn/quant-core';
import type { KVCacheStorage } from './layout.js';
import type { KVCacheConfig, PageBits } from './options.js';

/** Options of {@link KVCache.append}. */
export interface KVAppendOptions {
  /**
   * Append to this sequence only: k and v are then `[kvHeads, tokens, headDim]`. Without it, k and v are
   * `[batch, kvHeads, tokens, headDim]` and every sequence gets `tokens` tokens.
   */
  sequence?: number;
}

/** What a cache occupies (see {@link KVCache.memory}). */
export interface KVCacheMemory {
  /**
   * Bytes of every array the cache has allocated: pages (codes, integer step/zero, scales), float32 sinks, INT8
   * buffers with their scales, page tables, lengths. A growing cache counts the free pages it has reserved; a cache
   * with a fixed capacity counts all of it from the start.
   */
  allocatedBytes: number;
  /** The tokens held, as fp16 K and V: 2 · 2 · kvHeads · headDim · Σ lengths. */
  fp16Bytes: number;
  /** fp16Bytes / allocatedBytes (0 for an empty cache). */
  compressionRatio: number;
  /** allocatedBytes by part (tables: page tables, lengths, the running K means). */
  parts: { pages: number; sinks: number; buffers: number; tables: number };
  /** Tokens held, in total and by where they live (sink, pages, INT8 buffer), summed over sequences. */
  tokens: { total: number; sink: number; paged: number; buffered: number };
  /** Pages in use by width, K and V together (one page = pageSize tokens of one kv head of one sequence). */
  pages: Partial<Record<PageBits, number>>;
}

/**
 * A quantized, paged KV cache holding several sequences (see `createKVCache`). Every method of a disposed cache
 * throws `ERR_QATTN_DISPOSED`.
 */
export interface KVCache {
  readonly backend: BackendName;
  readonly config: KVCacheConfig;
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Tokens held by each sequence (a copy). */
  readonly lengths: readonly number[];
  /** The longest sequence: the key extent of a batched decode step. */
  readonly length: number;
  readonly disposed: boolean;
  /**
   * Appends tokens: k and v are Float32Arrays `[batch, kvHeads, tokens, headDim]` (every sequence), or
   * `[kvHeads, tokens, headDim]` with `{ sequence }`. Any number of tokens: a prompt at once or one decode step.
   * New tokens enter the INT8 buffer; each page that fills is compressed. Everything is validated before anything
   * changes: on a `QattnError` (`ERR_QATTN_DTYPE`, `ERR_QATTN_SHAPE` for a wrong length or past the capacity,
   * `ERR_QATTN_NONFINITE`, `ERR_QATTN_OPTION` for a bad sequence id) the cache is exactly as it was. Inputs are never
   * modified. The `cpu` cache appends synchronously; device caches return a promise that settles when the device
   * work has finished (later calls queue behind it in order) — `await cache.append(k, v)` is right for all.
   */
  append(k: Float32Array, v: Float32Array, options?: KVAppendOptions): void | Promise<void>;
  /**
   * Sequence `sequence`'s K and V dequantized to float32 `[kvHeads, length, headDim]` (default sequence 0).
   * Synchronous on `cpu` only; device caches throw `ERR_QATTN_UNSUPPORTED` here and answer {@link readAsync}.
   */
  read(sequence?: number): { k: Float32Array; v: Float32Array };
  /** {@link read} on every backend: a device cache downloads and dequantizes. */
  readAsync(sequence?: number): Promise<{ k: Float32Array; v: Float32Array }>;
  /** Bytes allocated against the same tokens in fp16. */
  memory(): KVCacheMemory;
  /** Empties one sequence (its pages return to the pool) or, without an argument, all of them. */
  clear(sequence?: number): void | Promise<void>;
  /**
   * The cache's arrays as a decode kernel reads them ({@link KVCacheStorage}): live views, read-only by contract,
   * valid until the next `append` or `clear`. `cpu` only: a device cache keeps them on the device and throws
   * `ERR_QATTN_UNSUPPORTED`.
   */
  storage(): KVCacheStorage;
  /** Frees everything the cache holds. Idempotent. */
  dispose(): void;
}
