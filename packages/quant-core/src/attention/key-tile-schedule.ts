import { lastVisibleKey } from '../shape.js';

/**
 * Which key tiles one query tile visits (the schedule of every backend: the CPU loop reads it, GPU kernels derive
 * theirs the same way). Key tile t covers keys [t·blockN, min((t+1)·blockN, seqKV)).
 * - tiles [0, unmaskedTiles) lie entirely at or before the first query's last visible key: no per-element mask;
 * - tiles [unmaskedTiles, tiles) straddle the causal diagonal: masked element by element;
 * - tiles ≥ `tiles` lie entirely after the last query's last visible key: skipped (never loaded, never computed).
 */
export interface KeyTilePlan {
  /** Key tiles to visit (0 when no query of the tile sees any key). */
  tiles: number;
  /** Leading tiles that need no mask (≤ tiles). */
  unmaskedTiles: number;
  /** One past the last key any query of the tile may see (0 when none). */
  keyEnd: number;
}

/**
 * Plans the key tiles of query tile [queryStart, queryEnd) with tiles of `blockN` keys (a pure function of the
 * shape). Causal masks are bottom-right aligned: query i sees keys j ≤ i + seqKV − seqQ.
 */
export function planKeyTiles(
  queryStart: number,
  queryEnd: number,
  seqQ: number,
  seqKV: number,
  blockN: number,
  causal: boolean,
): KeyTilePlan {
  const keyEnd = lastVisibleKey(queryEnd - 1, seqQ, seqKV, causal) + 1;
  if (keyEnd <= 0) return { tiles: 0, unmaskedTiles: 0, keyEnd: 0 };
  const tiles = Math.ceil(keyEnd / blockN);
  // A tile needs no mask when its last key is visible to the first (most restricted) query of the tile; when that
  // query sees every key, so does the clipped last tile.
  const firstQueryKeyEnd = lastVisibleKey(queryStart, seqQ, seqKV, causal) + 1;
  const unmaskedTiles = firstQueryKeyEnd <= 0 ? 0 : firstQueryKeyEnd === seqKV ? tiles : Math.min(tiles, Math.floor(firstQueryKeyEnd / blockN));
  return { tiles, unmaskedTiles, keyEnd };
}

/** Number of tiles of `size` covering `length` elements. */
export function tileCount(length: number, size: number): number {
  return Math.ceil(length / size);
}
