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
  /** Invocations that reduce one row of q (decode_q_sink: its scale and shift): workgroupSize / nextPow2(rowCapacity). */
  threadsPerRow: number;
  workgroupSize: number;
}

/**
 * Invocations per workgroup of every decode pass: by the profile (`WebGpuDecodeTuning.profile`). A software adapter
 * runs a workgroup on one CPU thread as SIMD groups of 8 that switch at every barrier, and a small workgroup keeps its
 * invocations busy in the short per-page loops (folding a page's step and zero, P̂, the reductions) where a large one
 * leaves most idle: lavapipe, B4 H32/8 hd 128, 2K keys, CPU time of a step, 64 → 32 → 16 invocations: INT4 ~170 →
 * ~140 → ~130 ms, INT8 ~140 → ~120 → ~105 ms, the 4/2 mix ~180 → ~155 → ~140 ms (medians of runs on a shared 2-core
 * host). 16 is the least with a thread per row of a 16-row tile. GPUs keep 128 (not re-measured with this change).
 */
export const DECODE_WORKGROUP_SIZE = { software: 16, hardware: 128 } as const;

const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const words = (n: number) => Math.ceil(n / 4);

/** Operand groups of four channels of a K row at the low-bit width that needs most (INT4 or INT2; see decode_pages). */
function kOperandGroups(headDim: number): number {
  return Math.max(Math.ceil(headDim / 8) * 2, Math.ceil(headDim / 16) * 4);
}

/**
 * Workgroup bytes of the softmax every attending pass shares (kernels/decode-common.wgsl.ts SOFTMAX_WGSL): per-row
 * state, the two reduction arrays (a vec4 per row block and invocation) and the chunk's maxima.
 */
function softmaxBytes(blocks: number, workgroupSize: number): number {
  return 4 * 5 * 4 * blocks + 16 * blocks * (2 * workgroupSize + 1) + 8;
}

/**
 * Workgroup bytes of the page and buffer passes (decode_pages, the larger): the q̂ operands, the folded K and V
 * operands (lo and hi words, four rows to a vec4), P̂ of every key, the zero terms and per-row values. Mirrors the
 * `var<workgroup>` declarations of kernels/decode-common.wgsl.ts and decode_pages.
 */
export function pagesPassBytes(t: Pick<DecodeTiles, 'rowCapacity' | 'workgroupSize'>, headDim: number, pageSize: number): number {
  const blocks = Math.ceil(t.rowCapacity / 4);
  const operands = 16 * blocks * (words(headDim) + 2 * kOperandGroups(headDim) + 2 * words(pageSize));
  return softmaxBytes(blocks, t.workgroupSize) + operands + 4 * (5 * 4 * blocks + blocks * pageSize);
}

/** Workgroup bytes of the q + sink pass (decode_q_sink): the rotated q rows, P of the sink chunk, scratch, row state. */
export function qSinkPassBytes(t: Pick<DecodeTiles, 'rowCapacity' | 'workgroupSize'>, headDim: number, sinkTokens: number): number {
  const blocks = Math.ceil(t.rowCapacity / 4);
  return softmaxBytes(blocks, t.workgroupSize) + 4 * (t.rowCapacity * (headDim + sinkTokens + 1) + t.workgroupSize);
}

/** Workgroup bytes of the combine pass (decode_combine): one output row, split weights and scratch. */
export function combinePassBytes(workgroupSize: number, headDim: number): number {
  return 4 * (headDim + 3 * workgroupSize + 4);
}

/**
 * Tiles a decode step to fit the device's workgroup memory (pure). Rows: at most {@link DECODE_MAX_ROWS_PER_TILE},
 * balanced over ⌈rowsTotal / 16⌉ tiles (e.g. 8:1 GQA × 4 query tokens = 32 rows: 2 tiles of 16), fewer when a chunk's
 * P and operands do not fit (a 1024-token page or sink chunk: its P alone is 4 KiB a row). With
 * `fixedRowCapacity` the kernels are sized for that many rows whatever rowsTotal is. Throws `ERR_QATTN_UNSUPPORTED`
 * when one row does not fit.
 *
 * hd 128, 64-token pages, 16 rows: 11.7 KiB at 16 invocations, 17.7 KiB at 64 (lavapipe has 32 KiB, the H200 48 KiB).
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
    const tiles = { rowCapacity: fixedRowCapacity ? maxRows : rowsPerTile, workgroupSize };
    if (pagesPassBytes(tiles, headDim, pageSize) > workgroupStorage || qSinkPassBytes(tiles, headDim, sinkTokens) > workgroupStorage) continue;
    return { ...tiles, rowsPerTile, rowTiles, threadsPerRow: workgroupSize / nextPow2(tiles.rowCapacity) };
  }
  throw new QattnError(
    'ERR_QATTN_UNSUPPORTED',
    `turboDecode webgpu: one query row of headDim ${headDim}, pageSize ${pageSize}, sinkTokens ${sinkTokens} needs more than the device's ${workgroupStorage} bytes of workgroup memory`,
    { headDim, pageSize, sinkTokens },
  );
}
