/**
 * The launch configuration of the plain WGSL decode (the decode-cache preset's WebGPU yardstick, see decode.ts): a
 * pure function of the shape and the device limits, unit-tested in test/wgsl-decode.test.ts.
 */
import { QattnError } from '@qattn/quant-core';

/** Element type of the baseline's K and V (q and the output stay float32). */
export type WgslDecodeDType = 'float32' | 'float16';

/** The shape of one decode step as the baseline sees it. */
export interface WgslDecodeProblem {
  dtype: WgslDecodeDType;
  batch: number;
  kvHeads: number;
  /** Query rows of one kv head: (heads / kvHeads) · seqQ (GQA: the group's query heads share the K/V reads). */
  rowsTotal: number;
  seqKV: number;
  headDim: number;
}

/** What of the device the schedule depends on. */
export interface WgslDecodeDevice {
  /** `maxComputeWorkgroupStorageSize` in bytes. */
  workgroupStorage: number;
  maxWorkgroupsPerDimension: number;
  /** A CPU implementation (lavapipe): 64 invocations, few workgroups, loops kept rolled (compile time). */
  software: boolean;
  /** CPU threads of a software adapter (its useful parallelism). */
  threads: number;
}

/** The launch configuration of one decode step. */
export interface WgslDecodeSchedule {
  workgroupSize: number;
  /** Query rows one workgroup serves (WGSL `ROWS`), and how many such tiles cover rowsTotal. */
  rowsPerTile: number;
  rowTiles: number;
  /** Keys staged in workgroup memory at once (WGSL `TILE`). */
  keysPerTile: number;
  /** P·V: invocations per vec4 channel word, each summing every keyLanes-th key of a tile (WGSL `KEY_LANES`). */
  keyLanes: number;
  /** Q·Kᵀ: invocations per key of a tile, each computing every rowParts-th row (WGSL `ROW_PARTS`). */
  rowParts: number;
  /** Keys of one split (a multiple of keysPerTile) and the splits of the sequence: the grid's x extent. */
  keysPerSplit: number;
  splits: number;
  /** Workgroup memory of the split pass, bytes (mirrors the `var<workgroup>` declarations of decode_split.wgsl.ts). */
  workgroupBytes: number;
  /** Loops over constant extents kept rolled (software adapters, where LLVM unrolling costs seconds of compile time). */
  rolledLoops: boolean;
}

/** Most query rows per workgroup: the partial outputs live in registers (ROWS vec4 accumulators per invocation). */
export const WGSL_DECODE_MAX_ROWS = 16;
/**
 * K tile bytes (unpadded) at most: 16 KiB keeps the split pass near 20 KiB of workgroup memory, so that ~10
 * workgroups stay resident on a 228-KiB Hopper SM (enough loads in flight to stream K/V) and it fits lavapipe's 32 KiB.
 */
export const WGSL_DECODE_K_TILE_BYTES = 16384;
/** Workgroups in flight on a GPU: about one wave of ~8 resident per SM on a 132-SM H200. */
export const WGSL_DECODE_TARGET_WORKGROUPS = 1024;
/** Most splits of one sequence (bounds the combine's loop and the partial-state buffer). */
export const WGSL_DECODE_MAX_SPLITS = 1024;

const TILE_CANDIDATES = [64, 32, 16, 8, 4] as const;

/** Workgroup bytes of the split pass at a tiling. */
export function splitPassBytes(dtype: WgslDecodeDType, headDim: number, rows: number, keysPerTile: number, keyLanes: number): number {
  const words = headDim / 4;
  const kvWordBytes = dtype === 'float32' ? 16 : 8;
  return 16 * rows * words + kvWordBytes * keysPerTile * (words + 1) + 4 * rows * (keysPerTile + 1) + 8 * rows + 16 * keyLanes * words + 4 * keyLanes;
}

/**
 * Tiles and splits a decode step. Rows: the query rows of one kv head, ≤ {@link WGSL_DECODE_MAX_ROWS} per workgroup
 * (balanced tiles). Keys per tile: the largest of 64/32/16/8/4 within the workgroup size, a
 * {@link WGSL_DECODE_K_TILE_BYTES} K tile and the device's workgroup memory. Splits (flash-decoding): enough
 * (batch · kvHeads · rowTiles · splits) workgroups to fill the device — {@link WGSL_DECODE_TARGET_WORKGROUPS} on a GPU,
 * 2 per CPU thread on a software adapter — with at least two tiles per split (each split writes a partial state the
 * combine pass reads); `keysPerSplit` overrides (tests).
 * Throws `ERR_QATTN_UNSUPPORTED` for a headDim that is not a multiple of 4 or above 4 × the workgroup size, or a grid
 * above the device's limits.
 */
export function chooseWgslDecodeSchedule(problem: WgslDecodeProblem, device: WgslDecodeDevice, keysPerSplit?: number): WgslDecodeSchedule {
  const { dtype, batch, kvHeads, rowsTotal, seqKV, headDim } = problem;
  const workgroupSize = device.software ? 64 : 128;
  const words = headDim / 4;
  if (!Number.isInteger(words) || words < 1 || words > workgroupSize) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `wgsl decode baseline: headDim must be a multiple of 4 up to ${4 * workgroupSize}, got ${headDim}`, { dimension: 'headDim', value: headDim });
  }
  const rowTiles = Math.ceil(rowsTotal / WGSL_DECODE_MAX_ROWS);
  const rowsPerTile = Math.ceil(rowsTotal / rowTiles);
  const keyLanes = Math.floor(workgroupSize / words);
  const elementBytes = dtype === 'float32' ? 4 : 2;
  const keysPerTile = TILE_CANDIDATES.find(
    (t) => t <= workgroupSize && t * headDim * elementBytes <= WGSL_DECODE_K_TILE_BYTES && splitPassBytes(dtype, headDim, rowsPerTile, t, keyLanes) <= device.workgroupStorage,
  );
  if (keysPerTile === undefined) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `wgsl decode baseline: headDim ${headDim} × ${rowsPerTile} rows needs more than the device's ${device.workgroupStorage} bytes of workgroup memory`, {
      dimension: 'headDim',
      value: headDim,
    });
  }
  let perSplit: number;
  if (keysPerSplit !== undefined) {
    if (!Number.isInteger(keysPerSplit) || keysPerSplit < 1) throw new QattnError('ERR_QATTN_OPTION', `wgsl decode baseline: keysPerSplit must be a positive integer, got ${keysPerSplit}`);
    perSplit = keysPerSplit;
  } else {
    const target = device.software ? 2 * Math.max(1, device.threads) : WGSL_DECODE_TARGET_WORKGROUPS;
    const wanted = Math.ceil(target / (batch * kvHeads * rowTiles));
    const most = Math.max(1, Math.min(Math.ceil(seqKV / (2 * keysPerTile)), WGSL_DECODE_MAX_SPLITS));
    const chosen = Math.min(Math.max(1, wanted), most);
    perSplit = Math.ceil(Math.ceil(seqKV / chosen) / keysPerTile) * keysPerTile;
  }
  const splits = Math.ceil(seqKV / perSplit);
  const grid = { splits, 'kvHeads × rowTiles': kvHeads * rowTiles, batch, rowsTotal };
  const over = Object.entries(grid).find(([, n]) => n > device.maxWorkgroupsPerDimension);
  if (over) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `wgsl decode baseline: ${over[0]} = ${over[1]} exceeds the device's ${device.maxWorkgroupsPerDimension} workgroups per dimension`, { dimension: over[0] });
  }
  return {
    workgroupSize,
    rowsPerTile,
    rowTiles,
    keysPerTile,
    keyLanes,
    rowParts: workgroupSize / keysPerTile,
    keysPerSplit: perSplit,
    splits,
    workgroupBytes: splitPassBytes(dtype, headDim, rowsPerTile, keysPerTile, keyLanes),
    rolledLoops: device.software,
  };
}
