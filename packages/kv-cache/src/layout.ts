import type { KVCacheConfig, PageBits } from './options.js';

/**
 * The memory layout of a KV cache, as a decode kernel reads it (the CPU arrays here; the same layout in device
 * buffers on the GPU backends). K and V are stored alike, each in a {@link KVTensorStorage}. Token j of sequence b
 * and kv head g lives in one of three places:
 *
 *   j < sinkTokens                       sink     float32 row (never quantized: the attention sink)
 *   j − sinkTokens = p·pageSize + r,
 *     p < pages(b)                       page p   slot pageTable[b, g, p] of the pool of width pageBits[b, g, p], row r
 *     p = pages(b)                       buffer   INT8 row r with its own scale (the newest tokens, not a full page yet)
 *
 * with pages(b) = ⌊(lengths[b] − sinkTokens) / pageSize⌋ (see {@link tokenPlacement}). Every stored row is rotated by
 * the cache's random-sign Hadamard transform when `rotationSigns` is set (exact for attention: rotate q the same way
 * and un-rotate the output).
 *
 * Pages are fixed-size slots of a pool per width, shared by all sequences and heads, and the page table maps
 * (sequence, kv head, page) to a slot as vLLM's block table does; a sequence grows by taking free slots.
 */
export interface KVCacheStorage {
  readonly config: KVCacheConfig;
  /** Tokens held per sequence, `[batch]`. */
  readonly lengths: Int32Array;
  /**
   * The running mean of every K row appended to each sequence (rotated), `[batch, kvHeads, headDim]`. Decode uses it
   * to take out the one part of q's INT8 rounding error that does not average away: its projection on K's mean,
   * which shifts every INT8 logit of a row alike (LLM keys have a large mean: their outlier channels).
   */
  readonly kMean: Float32Array;
  /** Row length of every page table: pages a sequence may have before the table grows. */
  readonly maxPages: number;
  /**
   * The ±1 signs s of the rotation y = H·(s ∘ x)/√headDim (H the Sylvester–Hadamard matrix), `[headDim]`; null when
   * the cache does not rotate.
   */
  readonly rotationSigns: Float32Array | null;
  readonly k: KVTensorStorage;
  readonly v: KVTensorStorage;
}

/**
 * One tensor's storage. K pages are token-major (`[pageSize, headDim]`, the reduction axis of q·k contiguous) with
 * an integer step/zero per channel; V pages are channel-major (`[headDim, pageSize]`, the reduction axis of P·V
 * contiguous) with an integer step/zero per token — so both quantize along the stored matrix's columns.
 */
export interface KVTensorStorage {
  /** `'token'`: pages are `[pageSize, headDim]` (K); `'channel'`: pages are `[headDim, pageSize]` (V). */
  readonly pageMajor: 'token' | 'channel';
  /** The sink tokens in float32, `[batch, kvHeads, sinkTokens, headDim]`. */
  readonly sink: Float32Array;
  /** The INT8 buffer, token-major `[batch, kvHeads, pageSize, headDim]`: x ≈ code · bufferScales[…, r]. */
  readonly bufferCodes: Int8Array;
  /** One symmetric scale per buffered token, `[batch, kvHeads, pageSize]`. */
  readonly bufferScales: Float32Array;
  /** Pool slot of each page, `[batch, kvHeads, maxPages]` (−1: no page). */
  readonly pageTable: Int32Array;
  /** Width of each page, `[batch, kvHeads, maxPages]`: the pool its slot belongs to (0: no page). */
  readonly pageBits: Uint8Array;
  /** The pools, by width: `{ 8 }` for `bits: 8` caches, `{ 4 }` or `{ 4, 2 }` for `bits: 4`. */
  readonly pools: Readonly<Partial<Record<PageBits, PagePoolStorage>>>;
}

/**
 * Fixed-size page slots of one width. Codes are packed little-endian in 32-bit words in the page's stored order
 * (token-major or channel-major, {@link KVTensorStorage.pageMajor}): code i of a page is bits (i·bits) mod 32 of word
 * ⌊i·bits/32⌋ — quant-core's `packInt` order. INT8 pages hold two's-complement bytes; INT4/INT2 pages unsigned codes.
 *
 *   INT8 page        x[t, d] ≈ code · scales[slot, t]                     one symmetric scale per token
 *   INT4/INT2 page   int8 = code · step[slot, c] + zero[slot, c] (in [−128, 127]),  x ≈ int8 · scales[slot]
 *
 * where c is the column of the stored matrix (K: the channel d; V: the token t) — TurboAttention's progressive
 * quantization: integer step and zero, so a kernel decompresses to INT8 in the integer domain and runs INT8 products
 * with the page's one block scale.
 */
export interface PagePoolStorage {
  readonly bits: PageBits;
  /** Words per page: pageSize · headDim · bits / 32. */
  readonly wordsPerPage: number;
  /** Step/zero entries per page: headDim (K) or pageSize (V); 0 for INT8 pages. */
  readonly metaPerPage: number;
  /** Scales per page: pageSize for INT8 pages (per token), 1 for INT4/INT2 pages (the block's INT8 scale). */
  readonly scalesPerPage: number;
  /** `[slots, wordsPerPage]` */
  readonly codes: Uint32Array;
  /** `[slots, metaPerPage]`, in [1, 85] */
  readonly step: Uint8Array;
  /** `[slots, metaPerPage]`, in [−127, 127] */
  readonly zero: Int8Array;
  /** `[slots, scalesPerPage]` */
  readonly scales: Float32Array;
}

/** Where the tokens of a sequence of `length` tokens live (see {@link KVCacheStorage}). */
export interface TokenPlacement {
  /** Tokens in the sink. */
  sinkTokens: number;
  /** Full pages. */
  pages: number;
  /** Tokens in the INT8 buffer, in [0, pageSize). */
  bufferTokens: number;
}

/** Splits a sequence of `length` tokens into sink, pages and buffer (pure). */
export function tokenPlacement(length: number, sinkTokens: number, pageSize: number): TokenPlacement {
  const afterSink = Math.max(0, length - sinkTokens);
  return {
    sinkTokens: Math.min(length, sinkTokens),
    pages: Math.floor(afterSink / pageSize),
    bufferTokens: afterSink % pageSize,
  };
}

/** 32-bit words of one page of `bits`-bit codes. */
export function pageWords(bits: PageBits, pageSize: number, headDim: number): number {
  return (pageSize * headDim * bits) / 32;
}

/** How many of a page's kv heads are stored at 2 bits: ⌊fraction · kvHeads⌋ (quant-core's `allocateHeadBits`). */
export function lowBitHeads(fraction: number, kvHeads: number): number {
  // The same 1e−9 guard as allocateHeadBits, so the pool sizes here match the bits it hands out.
  return Math.min(kvHeads, Math.floor(fraction * kvHeads + 1e-9));
}
