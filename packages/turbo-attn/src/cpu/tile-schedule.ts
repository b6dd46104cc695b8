import { lastVisibleKey } from '@qattn/quant-core';

/**
 * Which key tiles a query tile visits, as a pure function of the shape (the CPU schedule; GPU backends derive theirs
 * the same way).
 *
 * Query tile rows [rowStart, rowEnd) see keys 0..lastVisibleKey(rowEnd − 1) under the bottom-right causal mask, so
 * tiles starting after that key are skipped outright. Tiles ending at or before lastVisibleKey(rowStart) are fully
 * visible to every row and need no per-element mask; the ones in between are "diagonal" tiles that do.
 */
export interface KeyTileRange {
  /** Key tiles to visit: 0 ≤ tile < visitTiles (0 when no row of the tile sees any key). */
  visitTiles: number;
  /** Tiles below this index are fully visible to every row of the query tile (no mask needed). */
  unmaskedTiles: number;
}

/** The key tiles query rows [rowStart, rowEnd) visit with tiles of `blockN` keys. */
export function keyTileRange(rowStart: number, rowEnd: number, seqQ: number, seqKV: number, blockN: number, causal: boolean): KeyTileRange {
  const lastKeyOfLastRow = lastVisibleKey(rowEnd - 1, seqQ, seqKV, causal);
  const lastKeyOfFirstRow = lastVisibleKey(rowStart, seqQ, seqKV, causal);
  const visitTiles = lastKeyOfLastRow < 0 ? 0 : Math.floor(lastKeyOfLastRow / blockN) + 1;
  // A tile [j0, min(j0 + blockN, seqKV)) is fully visible when its last key ≤ lastKeyOfFirstRow; when the first row
  // sees every key, so does the clipped last tile.
  const unmaskedTiles =
    lastKeyOfFirstRow === seqKV - 1 ? visitTiles : lastKeyOfFirstRow < 0 ? 0 : Math.floor((lastKeyOfFirstRow + 1) / blockN);
  return { visitTiles, unmaskedTiles };
}
