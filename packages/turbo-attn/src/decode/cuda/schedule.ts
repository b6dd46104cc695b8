/** Query rows one CTA serves (native/decode_args.h kDecodeMaxRowsPerTile). */
export const DECODE_MAX_ROWS_PER_TILE = 16;
/** Most splits per sequence (native/decode_smem_layout.h kDecodeMaxCombineSplits). */
export const DECODE_MAX_SPLITS = 1024;
/** CTAs per SM the split count aims for: enough resident CTAs to keep loads in flight on every SM. */
export const DECODE_TARGET_CTAS_PER_SM = 4;
/** Fewest pages per split: below that the combine's reads and the per-split q preparation stop paying. */
export const DECODE_MIN_PAGES_PER_SPLIT = 2;

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
}

/** The launch schedule of one decode call (native/decode_paged_splitkv.cu). */
export interface DecodeSchedule {
  /** Query rows of one kv head: (heads / kvHeads) · queryTokens. */
  rowsTotal: number;
  rowsPerTile: number;
  rowTiles: number;
  /** Pages per split; a sequence of p pages has max(1, ⌈p / pagesPerSplit⌉) splits (splitKVSchedule). */
  pagesPerSplit: number;
  /** Splits of the longest sequence: the grid's x extent and the workspace's split dimension. */
  maxSplits: number;
}

/** Full pages of a sequence of `length` tokens (layout.ts tokenPlacement). */
function pagesOf(length: number, sinkTokens: number, pageSize: number): number {
  return Math.floor(Math.max(0, length - sinkTokens) / pageSize);
}

/**
 * The split-KV schedule (pure): rows are cut into tiles of at most 16, and the longest sequence's pages into as many
 * splits as it takes to give every SM {@link DECODE_TARGET_CTAS_PER_SM} CTAs (batch · kvHeads · rowTiles CTAs per
 * split), with at least {@link DECODE_MIN_PAGES_PER_SPLIT} pages per split and at most {@link DECODE_MAX_SPLITS}
 * splits. B4 H32/8 at 64K keys on 132 SMs: 17 splits of 61 pages; at 4K: 16 splits of 4 pages.
 */
export function cudaDecodeSchedule(input: DecodeScheduleInput): DecodeSchedule {
  const rowsTotal = (input.heads / input.kvHeads) * input.queryTokens;
  const rowTiles = Math.ceil(rowsTotal / DECODE_MAX_ROWS_PER_TILE);
  const rowsPerTile = Math.ceil(rowsTotal / rowTiles);
  let maxPages = 0;
  for (let b = 0; b < input.lengths.length; b++) maxPages = Math.max(maxPages, pagesOf(input.lengths[b], input.sinkTokens, input.pageSize));
  const ctasPerSplit = input.lengths.length * input.kvHeads * rowTiles;
  const wanted = Math.ceil((Math.max(1, input.smCount) * DECODE_TARGET_CTAS_PER_SM) / ctasPerSplit);
  const splits = Math.max(1, Math.min(wanted, Math.ceil(maxPages / DECODE_MIN_PAGES_PER_SPLIT)));
  const pagesPerSplit = Math.max(1, Math.ceil(maxPages / splits), Math.ceil(maxPages / DECODE_MAX_SPLITS));
  const maxSplits = Math.max(1, Math.ceil(maxPages / pagesPerSplit));
  return { rowsTotal, rowsPerTile, rowTiles, pagesPerSplit, maxSplits };
}

const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** Dynamic shared memory of the split kernel (native/decode_smem_layout.h decode_smem_walk, the same sum). */
export function decodeSmemBytes(rows: number, headDim: number, pageSize: number, sinkTokens: number): number {
  const scoreStride = Math.max(pageSize, sinkTokens);
  // K and V pages are padded by one word per row (decode_k_stride, decode_v_stride: conflict-free dp4a rows).
  const parts = [rows * headDim, pageSize * (headDim + 4), headDim * (pageSize + 4), rows * pageSize, rows * headDim * 4, rows * scoreStride * 4, rows * headDim * 4];
  return parts.reduce((sum, bytes) => sum + align16(bytes), 0) + 6 * align16(rows * 4);
}
