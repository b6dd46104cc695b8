import { QattnError } from '@qattn/quant-core';

/** Query rows one workgroup serves at most (the query heads of one kv head × queryTokens, GQA packed). */
export const DECODE_MAX_ROWS_PER_TILE = 16;

/** What the workgroup tiling of a WebGPU decode step depends on. */
export interface DecodeTileProblem {
  headDim: number;
  pageSize: number;
  sinkTokens: number;
  /** Query rows of one kv head: (heads / kvHeads) · queryTokens. */
  rowsTotal: number;
  /** The device's `maxComputeWorkgroupStorageSize` in bytes. */
  workgroupStorage: number;
  /** Invocations per workgroup (a power of two ≥ 16). */
  workgroupSize: number;
  /**
   * Size the kernels for the most rows that fit (up to 16) whatever the call needs, so one pipeline serves every GQA
   * ratio and query count — for software adapters, where each pipeline costs seconds of LLVM time. Default false:
   * the kernels are sized for this call's row tile.
   */
  fixedRowCapacity?: boolean;
}

/** The tiling of one decode step (kernels/*.wgsl.ts read it as WGSL constants). */
export interface DecodeTiles {
  /** Rows the kernels are sized for (WGSL `ROWS`: workgroup arrays, reduction lanes); ≥ rowsPerTile. */
  rowCapacity: number;
  /** Rows of one tile (a uniform); the last tile may hold fewer. */
  rowsPerTile: number;
  rowTiles: number;
  /** Keys of a page decompressed into workgroup memory at once for Q·Kᵀ (the page's logits are all kept). */
  keysPerTile: number;
  /** Channels of a page's V decompressed at once for P·V. */
  channelsPerTile: number;
  /** Invocations that reduce one row (max, sum): workgroupSize / nextPow2(rowCapacity). */
  threadsPerRow: number;
  workgroupSize: number;
}

const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const words = (n: number) => Math.ceil(n / 4);

/**
 * Workgroup bytes of the page and buffer passes (decode_pages / decode_buffer): q codes, a K tile and a V tile of
 * decompressed INT8 (rows padded by one word against bank conflicts), the chunk's logits and P codes, per-key scales,
 * reduction scratch and per-row state. Mirrors the `var<workgroup>` declarations of kernels/decode-common.wgsl.ts.
 */
export function pagesPassBytes(t: Pick<DecodeTiles, 'rowCapacity' | 'keysPerTile' | 'channelsPerTile' | 'workgroupSize'>, headDim: number, pageSize: number): number {
  const rows = t.rowCapacity;
  const wordsD = words(headDim);
  const wordsT = words(pageSize);
  return 4 * (rows * wordsD + t.keysPerTile * (wordsD + 1) + t.channelsPerTile * (wordsT + 1) + rows * pageSize + rows * wordsT + 2 * pageSize + 2 * t.workgroupSize + 8 * rows + 1);
}

/** Workgroup bytes of the q + sink pass (decode_q_sink): the rotated q rows, the sink's logits, scratch, row state. */
export function qSinkPassBytes(t: Pick<DecodeTiles, 'rowCapacity' | 'workgroupSize'>, headDim: number, sinkTokens: number): number {
  const rows = t.rowCapacity;
  return 4 * (rows * headDim + rows * Math.max(1, sinkTokens) + 2 * t.workgroupSize + 8 * rows + 1);
}

/** Workgroup bytes of the combine pass (decode_combine): one output row, split weights and scratch. */
export function combinePassBytes(workgroupSize: number, headDim: number): number {
  return 4 * (headDim + 3 * workgroupSize + 4);
}

/**
 * Tiles a decode step to fit the device's workgroup memory (pure). Rows: at most {@link DECODE_MAX_ROWS_PER_TILE},
 * balanced over ⌈rowsTotal / 16⌉ tiles (e.g. 8:1 GQA × 4 query tokens = 32 rows: 2 tiles of 16). K and V tiles start
 * at a whole page (pageSize keys, headDim channels) and are halved, the larger first, until the page pass fits; rows
 * shrink only when tiles of 4 keys and 4 channels still do not fit (a 1024-token page or sink chunk: its logits alone
 * are 4 KiB a row). With `fixedRowCapacity` the kernels are sized for that many rows whatever rowsTotal is. Throws
 * `ERR_QATTN_UNSUPPORTED` when one row does not fit.
 *
 * hd 128, 64-token pages, 16 rows, 64 invocations: 24 KiB (whole pages; lavapipe has 32 KiB, the H200 48 KiB).
 */
export function chooseDecodeTiles(problem: DecodeTileProblem): DecodeTiles {
  const { headDim, pageSize, sinkTokens, rowsTotal, workgroupStorage, workgroupSize, fixedRowCapacity = false } = problem;
  if (combinePassBytes(workgroupSize, headDim) > workgroupStorage) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `turboDecode webgpu: headDim ${headDim} needs more than the device's ${workgroupStorage} bytes of workgroup memory`, {
      headDim,
    });
  }
  const start = fixedRowCapacity ? DECODE_MAX_ROWS_PER_TILE : Math.min(DECODE_MAX_ROWS_PER_TILE, Math.max(1, rowsTotal));
  for (let maxRows = start; maxRows >= 1; maxRows--) {
    const rowTiles = Math.ceil(Math.max(1, rowsTotal) / maxRows);
    const rowsPerTile = Math.ceil(Math.max(1, rowsTotal) / rowTiles);
    const rowCapacity = fixedRowCapacity ? maxRows : rowsPerTile;
    const tiles = { rowCapacity, keysPerTile: pageSize, channelsPerTile: headDim, workgroupSize };
    while (pagesPassBytes(tiles, headDim, pageSize) > workgroupStorage && (tiles.keysPerTile > 4 || tiles.channelsPerTile > 4)) {
      const kBytes = tiles.keysPerTile * (words(headDim) + 1);
      const vBytes = tiles.channelsPerTile * (words(pageSize) + 1);
      if ((kBytes >= vBytes && tiles.keysPerTile > 4) || tiles.channelsPerTile <= 4) tiles.keysPerTile = Math.ceil(tiles.keysPerTile / 2);
      else tiles.channelsPerTile = Math.ceil(tiles.channelsPerTile / 2);
    }
    if (pagesPassBytes(tiles, headDim, pageSize) > workgroupStorage || qSinkPassBytes(tiles, headDim, sinkTokens) > workgroupStorage) continue;
    return { ...tiles, rowsPerTile, rowTiles, threadsPerRow: workgroupSize / nextPow2(rowCapacity) };
  }
  throw new QattnError(
    'ERR_QATTN_UNSUPPORTED',
    `turboDecode webgpu: one query row of headDim ${headDim}, pageSize ${pageSize}, sinkTokens ${sinkTokens} needs more than the device's ${workgroupStorage} bytes of workgroup memory`,
    { headDim, pageSize, sinkTokens },
  );
}
