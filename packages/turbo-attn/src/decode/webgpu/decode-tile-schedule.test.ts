import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { pagePassBindings, planPagePasses } from './decode-page-passes.js';
import { DECODE_WORKGROUP_SIZE, chooseDecodeTiles, combinePassBytes, pagesPassBytes, qSinkPassBytes } from './decode-tile-schedule.js';

const LAVAPIPE = 32 * 1024;
const H200 = 48 * 1024;

function expectFits(tiles: ReturnType<typeof chooseDecodeTiles>, headDim: number, pageSize: number, sinkTokens: number, limit: number): void {
  expect(pagesPassBytes(tiles, headDim, pageSize)).toBeLessThanOrEqual(limit);
  expect(qSinkPassBytes(tiles, headDim, sinkTokens)).toBeLessThanOrEqual(limit);
  expect(combinePassBytes(tiles.workgroupSize, headDim)).toBeLessThanOrEqual(limit);
}

describe('chooseDecodeTiles', () => {
  const base = { headDim: 128, pageSize: 64, sinkTokens: 4, workgroupStorage: LAVAPIPE, workgroupSize: 64 };

  it('balances rows over ⌈rows / 16⌉ tiles at hd 128 / 64-token pages', () => {
    const tiles = chooseDecodeTiles({ ...base, rowsTotal: 4 });
    expect(tiles).toMatchObject({ rowCapacity: 4, rowsPerTile: 4, rowTiles: 1, threadsPerRow: 16 });
    // 8:1 GQA × 4 query tokens: 2 tiles of 16; 17 rows: 2 tiles of 9.
    expect(chooseDecodeTiles({ ...base, rowsTotal: 32 })).toMatchObject({ rowsPerTile: 16, rowTiles: 2, threadsPerRow: 4 });
    expect(chooseDecodeTiles({ ...base, rowsTotal: 17 })).toMatchObject({ rowCapacity: 9, rowsPerTile: 9, rowTiles: 2, threadsPerRow: 4 });
    expectFits(chooseDecodeTiles({ ...base, rowsTotal: 16 }), 128, 64, 4, LAVAPIPE);
  });

  it('sizes the kernels for 16 rows whatever the call needs with fixedRowCapacity (one pipeline for every GQA ratio)', () => {
    for (const rowsTotal of [1, 4, 8, 16, 64]) {
      const tiles = chooseDecodeTiles({ ...base, rowsTotal, fixedRowCapacity: true });
      expect(tiles.rowCapacity).toBe(16);
      expect(tiles.threadsPerRow).toBe(4);
      expect(tiles.rowsPerTile * tiles.rowTiles).toBeGreaterThanOrEqual(rowsTotal);
      expect(tiles.rowsPerTile).toBeLessThanOrEqual(16);
    }
  });

  it('tiles the software profile (16 invocations) for 16 rows, one invocation a row in decode_q_sink, at hd 64–256', () => {
    for (const headDim of [64, 128, 256]) {
      const tiles = chooseDecodeTiles({ ...base, headDim, workgroupSize: DECODE_WORKGROUP_SIZE.software, rowsTotal: 4, fixedRowCapacity: true });
      expect(tiles).toMatchObject({ rowCapacity: 16, rowsPerTile: 4, rowTiles: 1, threadsPerRow: 1, workgroupSize: 16 });
      expectFits(tiles, headDim, 64, 4, LAVAPIPE);
    }
    // The reduction scratch shrinks with the workgroup: hd 128, 64-token pages, 16 rows.
    expect(pagesPassBytes({ rowCapacity: 16, workgroupSize: DECODE_WORKGROUP_SIZE.software }, 128, 64)).toBe(11_976);
  });

  it('fits every pass, giving up rows only where a chunk\'s logits and operands do not fit', () => {
    for (const [headDim, pageSize, sinkTokens] of [
      [256, 64, 4],
      [512, 256, 4],
      [1024, 1024, 1024],
      [12, 16, 0],
    ]) {
      for (const limit of [LAVAPIPE, H200]) {
        const tiles = chooseDecodeTiles({ headDim, pageSize, sinkTokens, rowsTotal: 16, workgroupStorage: limit, workgroupSize: 64 });
        expectFits(tiles, headDim, pageSize, sinkTokens, limit);
        expect(tiles.rowCapacity).toBeGreaterThanOrEqual(1);
      }
    }
    // hd 128 and 256 at 64-token pages: 16 rows (17.7 KiB and 23.7 KiB of operands, P̂ and reduction scratch).
    expect(pagesPassBytes({ rowCapacity: 16, workgroupSize: 64 }, 128, 64)).toBe(18_120);
    expect(pagesPassBytes({ rowCapacity: 16, workgroupSize: 64 }, 256, 64)).toBe(24_264);
    expect(chooseDecodeTiles({ headDim: 256, pageSize: 64, sinkTokens: 4, rowsTotal: 16, workgroupStorage: LAVAPIPE, workgroupSize: 64 }).rowCapacity).toBe(16);
    // A 1024-token sink chunk or page: 16 KiB of P a row block, so fewer rows per tile.
    expect(chooseDecodeTiles({ headDim: 128, pageSize: 64, sinkTokens: 1024, rowsTotal: 16, workgroupStorage: LAVAPIPE, workgroupSize: 64 }).rowCapacity).toBeLessThan(16);
    expect(chooseDecodeTiles({ headDim: 128, pageSize: 1024, sinkTokens: 4, rowsTotal: 16, workgroupStorage: LAVAPIPE, workgroupSize: 64 }).rowCapacity).toBeLessThan(16);
  });

  it('refuses what one row cannot fit (ERR_QATTN_UNSUPPORTED)', () => {
    let caught: unknown;
    try {
      chooseDecodeTiles({ headDim: 1024, pageSize: 1024, sinkTokens: 1024, rowsTotal: 1, workgroupStorage: 8 * 1024, workgroupSize: 64 });
    } catch (err) {
      caught = err;
    }
    expect(isQattnError(caught, 'ERR_QATTN_UNSUPPORTED')).toBe(true);
  });
});

describe('planPagePasses', () => {
  it('reads every page in one pass where the pools fit (INT4 11 bindings, INT8 7, INT4 K + INT4/INT2 V 15)', () => {
    expect(planPagePasses([4], [4], 16)).toEqual([{ k: [4], v: [4] }]);
    expect(pagePassBindings({ k: [4], v: [4] })).toBe(11);
    expect(pagePassBindings({ k: [8], v: [8] })).toBe(7);
    expect(planPagePasses([4], [4, 2], 16)).toEqual([{ k: [4], v: [4, 2] }]);
  });

  it('splits by K width, then by width pair, when the limit is lower', () => {
    // The paper's half-and-half mix: 19 bindings in one pass.
    expect(planPagePasses([4, 2], [4, 2], 16)).toEqual([
      { k: [4], v: [4, 2] },
      { k: [2], v: [4, 2] },
    ]);
    expect(planPagePasses([4], [4, 2], 11)).toEqual([
      { k: [4], v: [4] },
      { k: [4], v: [2] },
    ]);
  });

  it('refuses a device that cannot bind one page (ERR_QATTN_UNSUPPORTED)', () => {
    let caught: unknown;
    try {
      planPagePasses([4], [4], 8);
    } catch (err) {
      caught = err;
    }
    expect(isQattnError(caught, 'ERR_QATTN_UNSUPPORTED')).toBe(true);
    expect(planPagePasses([8], [8], 8)).toHaveLength(1);
  });
});
