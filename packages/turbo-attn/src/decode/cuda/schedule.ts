import { QattnError } from '@qattn/quant-core';
/** Query rows one CTA serves (native/decode_args.h kDecodeMaxRowsPerTile). */
export const DECODE_MAX_ROWS_PER_TILE = 16;
/** Most splits per sequence (native/decode_smem_layout.h kDecodeMaxCombineSplits). */
export const DECODE_MAX_SPLITS = 1024;
/** CTAs per SM the split count aims for: enough resident CTAs to keep loads in flight on every SM. */
export const DECODE_TARGET_CTAS_PER_SM = 4;
/** Fewest pages per split: below that the combine's reads and the per-split q preparation stop paying. */
export const DECODE_MIN_PAGES_PER_SPLIT = 2;
/**
 * Warps per CTA of the tensor-core kernel, each running one split (native/decode_mma.h kDecodeMmaWarps), whatever the
 * cache's widths: a warp's ring of K and V items is about 17 KB at INT4/INT2 room and at INT8 room alike.
 */
export const DECODE_MMA_WARPS = 4;
/**
 * (K item, V item) pairs in a warp's ring (native/decode_mma.h decode_mma_ring_pages): pages in flight per warp, 2 when
 * the cache's widest pages are INT4/INT2, 1 when it has INT8 pages (items twice as large).
 */
export function decodeMmaRingPages(roomBits: 8 | 4): number {
  return roomBits === 8 ? 1 : 2;
}
/** Query rows per CTA of the tensor-core kernel: the n = 8 of mma.m16n8k16 (kDecodeMmaRows). */
export const DECODE_MMA_ROWS = 8;
/** CTAs per SM the tensor-core kernel's registers (≤ 168, __launch_bounds__) and shared memory allow at hd128. */
export const DECODE_MMA_CTAS_PER_SM = 3;
/** Largest sink the tensor-core kernel scores (kDecodeMmaMaxSink). */
export const DECODE_MMA_MAX_SINK = 64;

/**
 * Which split kernel runs: `mma` (tensor cores, native/decode_paged_mma.cu) for head dims 64 and 128, pages of 16, 32
 * or 64 tokens and sinks of at most 64 tokens; `simt` (dp4a, native/decode_paged_splitkv.cu) for every other shape.
 */
export type DecodePath = 'mma' | 'simt';

/** Whether the tensor-core kernel serves a cache layout (native/decode_mma.h decode_mma_supported). */
export function decodeMmaSupported(headDim: number, pageSize: number, sinkTokens: number): boolean {
  return (headDim === 64 || headDim === 128) && [16, 32, 64].includes(pageSize) && sinkTokens <= DECODE_MMA_MAX_SINK;
}

/** What the split-KV schedule depends on. */
export interface DecodeScheduleInput {
  /** Tokens per sequence (the cache's host copy of its lengths). */
  lengths: ArrayLike<number>;
  kvHeads: number;
  heads: number;
  queryTokens: number;
  pageSize: number;
  sinkTokens: number;
  /** Streaming multiprocessors of the device. */
  smCount: number;
  headDim: number;
  /** The kernel to run; default: `mma` where it serves the layout, else `simt`. */
  path?: DecodePath;
}

/** The launch schedule of one decode call (native/decode_paged_splitkv.cu). */
export interface DecodeSchedule {
  path: DecodePath;
  /** Query rows of one kv head: (heads / kvHeads) · queryTokens. */
  rowsTotal: number;
  rowsPerTile: number;
  rowTiles: number;
  /** Pages per split; a sequence of p pages has max(1, ⌈p / pagesPerSplit⌉) splits (splitKVSchedule). */
  pagesPerSplit: number;
  /** Splits of the longest sequence: the grid's x extent and the partial states' split stride. */
  maxSplits: number;
  /**
   * Splits the partial-state workspace is sized for: the most this schedule gives the shape at any cache length (the
   * split count that fills the device, at most {@link DECODE_MAX_SPLITS}), so `maxSplits ≤ splitCapacity` always and
   * a workspace keyed by the shape is allocated once, not again each time the cache grows past a split boundary.
   */
  splitCapacity: number;
}

/** Full pages of a sequence of `length` tokens (layout.ts tokenPlacement). */
function pagesOf(length: number, sinkTokens: number, pageSize: number): number {
  return Math.floor(Math.max(0, length - sinkTokens) / pageSize);
}

/**
 * The split-KV schedule (pure). Rows are cut into balanced tiles (at most 16 per CTA on the SIMT path, 8 — the MMA's
 * n — on the tensor-core path), and the longest sequence's pages into as many splits as it takes to fill the device,
 * with at least {@link DECODE_MIN_PAGES_PER_SPLIT} pages per split and at most {@link DECODE_MAX_SPLITS} splits:
 *
 *   simt  one CTA per split: {@link DECODE_TARGET_CTAS_PER_SM} CTAs per SM. B4 H32/8 at 64K keys on 132 SMs: 17
 *         splits of 61 pages; at 4K: 16 splits of 4 pages.
 *   mma   one warp per split, {@link DECODE_MMA_WARPS} per CTA, {@link DECODE_MMA_CTAS_PER_SM} CTAs per SM, the split
 *         count rounded down to whole CTAs so the grid is one full wave (B4 H32/8 INT4 on 132 SMs: 48 splits = 384
 *         CTAs for 396 slots, where 49 would take a second, nearly empty wave). 64K keys: 47 splits of 22 pages.
 */
export function cudaDecodeSchedule(input: DecodeScheduleInput): DecodeSchedule {
  const mmaServes = decodeMmaSupported(input.headDim, input.pageSize, input.sinkTokens);
  if (input.path === 'mma' && !mmaServes) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `turboDecode cuda: the tensor-core path serves head dims 64/128, pages of 16/32/64 and ≤ ${DECODE_MMA_MAX_SINK} sink tokens, not headDim ${input.headDim}, pageSize ${input.pageSize}, sinkTokens ${input.sinkTokens}`, {
      headDim: input.headDim,
      pageSize: input.pageSize,
      sinkTokens: input.sinkTokens,
    });
  }
  const path: DecodePath = input.path ?? (mmaServes ? 'mma' : 'simt');
  const rowsTotal = (input.heads / input.kvHeads) * input.queryTokens;
  const rowTiles = Math.ceil(rowsTotal / (path === 'mma' ? DECODE_MMA_ROWS : DECODE_MAX_ROWS_PER_TILE));
  const rowsPerTile = Math.ceil(rowsTotal / rowTiles);
  let maxPages = 0;
  for (let b = 0; b < input.lengths.length; b++) maxPages = Math.max(maxPages, pagesOf(input.lengths[b], input.sinkTokens, input.pageSize));
  const tilesPerSplit = input.lengths.length * input.kvHeads * rowTiles;
  const sms = Math.max(1, input.smCount);
  let wanted: number;
  if (path === 'mma') {
    const perCta = DECODE_MMA_WARPS;
    const warps = Math.floor((sms * DECODE_MMA_CTAS_PER_SM * perCta) / tilesPerSplit);
    wanted = warps >= perCta ? warps - (warps % perCta) : Math.max(1, warps);
  } else {
    wanted = Math.ceil((sms * DECODE_TARGET_CTAS_PER_SM) / tilesPerSplit);
  }
  const splits = Math.max(1, Math.min(wanted, Math.ceil(maxPages / DECODE_MIN_PAGES_PER_SPLIT)));
  const pagesPerSplit = Math.max(1, Math.ceil(maxPages / splits), Math.ceil(maxPages / DECODE_MAX_SPLITS));
  // ⌈maxPages / pagesPerSplit⌉ ≤ splits ≤ max(1, wanted), and ≤ DECODE_MAX_SPLITS through the last term above.
  const maxSplits = Math.max(1, Math.ceil(maxPages / pagesPerSplit));
  const splitCapacity = Math.min(Math.max(1, wanted), DECODE_MAX_SPLITS);
  return { path, rowsTotal, rowsPerTile, rowTiles, pagesPerSplit, maxSplits, splitCapacity };
}

const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

/**
 * Dynamic shared memory of the tensor-core kernel (native/decode_mma.h decode_mma_smem_bytes, the same sum): per warp
 * its ring of {@link decodeMmaRingPages} (K item, V item) pairs — the K item: K codes at `roomBits` (8 when the cache
 * has INT8 pages, else 4), K's step/zero, V's step/zero, both scales; the V item: V codes — and the sink's scores, then
 * the block's part: 8 query rows (INT8 codes, fp32 rotated rows, s_q, δ, last key), the combine's row statistics, the
 * warps' mbarriers and a flag. (The kernel puts every warp's codes first, 1024-byte aligned for TMA, and the per-page
 * data after them: the same bytes.)
 */
export function decodeMmaSmemBytes(headDim: number, pageSize: number, sinkTokens: number, roomBits: 8 | 4): number {
  const scales = roomBits === 8 ? pageSize * 4 : 4; // a scale per token for INT8 pages, else one per page
  const kItem = [pageSize * headDim * roomBits / 8, headDim, headDim, pageSize, pageSize, scales, scales].reduce((sum, bytes) => sum + align16(bytes), 0);
  const vItem = align16(headDim * pageSize * roomBits / 8);
  // q̂, rotated q, s_q, δ, last key, the combine's row maxima and sums, 4 mbarriers per warp, the last-CTA flag.
  const block = align16(DECODE_MMA_ROWS * headDim) + align16(DECODE_MMA_ROWS * headDim * 4) + 5 * align16(DECODE_MMA_ROWS * 4) + align16(DECODE_MMA_WARPS * 32) + 16;
  return block + DECODE_MMA_WARPS * (decodeMmaRingPages(roomBits) * (kItem + vItem) + align16(DECODE_MMA_ROWS * sinkTokens * 4));
}

/** Dynamic shared memory of the SIMT split kernel (native/decode_smem_layout.h decode_smem_walk, the same sum). */
export function decodeSmemBytes(rows: number, headDim: number, pageSize: number, sinkTokens: number): number {
  const scoreStride = Math.max(pageSize, sinkTokens);
  // K and V pages are padded by one word per row (decode_k_stride, decode_v_stride: conflict-free dp4a rows).
  const parts = [rows * headDim, pageSize * (headDim + 4), headDim * (pageSize + 4), rows * pageSize, rows * headDim * 4, rows * scoreStride * 4, rows * headDim * 4];
  return parts.reduce((sum, bytes) => sum + align16(bytes), 0) + 6 * align16(rows * 4);
}
