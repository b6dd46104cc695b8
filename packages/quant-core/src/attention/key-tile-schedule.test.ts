import { describe, expect, it } from 'vitest';
import { lastVisibleKey } from '../shape.js';
import { planKeyTiles } from './key-tile-schedule.js';

/** The schedule by brute force: visit a tile iff some row sees one of its keys; unmasked iff every row sees all. */
function bruteForce(queryStart: number, queryEnd: number, seqQ: number, seqKV: number, blockN: number, causal: boolean) {
  const totalTiles = Math.ceil(seqKV / blockN);
  let tiles = 0;
  let unmaskedTiles = 0;
  let prefixUnmasked = true;
  for (let t = 0; t < totalTiles; t++) {
    const lastKey = Math.min(seqKV, (t + 1) * blockN) - 1;
    let anySees = false;
    let allSeeAll = true;
    for (let i = queryStart; i < queryEnd; i++) {
      const last = lastVisibleKey(i, seqQ, seqKV, causal);
      if (last >= t * blockN) anySees = true;
      if (last < lastKey) allSeeAll = false;
    }
    if (anySees) tiles = t + 1;
    if (prefixUnmasked && allSeeAll) unmaskedTiles = t + 1;
    else prefixUnmasked = false;
  }
  const keyEnd = Math.max(0, lastVisibleKey(queryEnd - 1, seqQ, seqKV, causal) + 1);
  return { tiles, unmaskedTiles: Math.min(unmaskedTiles, tiles), keyEnd };
}

describe('planKeyTiles', () => {
  it('non-causal: every tile, none masked', () => {
    expect(planKeyTiles(0, 64, 100, 100, 32, false)).toEqual({ tiles: 4, unmaskedTiles: 4, keyEnd: 100 });
    expect(planKeyTiles(0, 64, 64, 100, 64, false)).toEqual({ tiles: 2, unmaskedTiles: 2, keyEnd: 100 });
  });

  it('causal square: tiles up to the diagonal, the diagonal tile masked', () => {
    // Queries 64..127 of 256 see keys ≤ 64..127: tiles 0, 1 are clean, tiles 2, 3 straddle the diagonal.
    expect(planKeyTiles(64, 128, 256, 256, 32, true)).toEqual({ tiles: 4, unmaskedTiles: 2, keyEnd: 128 });
  });

  it('causal seqQ > seqKV: a tile of queries that see no key visits nothing', () => {
    expect(planKeyTiles(0, 10, 100, 50, 16, true)).toEqual({ tiles: 0, unmaskedTiles: 0, keyEnd: 0 });
    expect(planKeyTiles(0, 16, 80, 50, 32, true)).toEqual({ tiles: 0, unmaskedTiles: 0, keyEnd: 0 });
  });

  it('matches the brute-force schedule for causal and non-causal shapes, seqQ < = > seqKV, ragged tiles', () => {
    for (const [seqQ, seqKV] of [[1, 1], [7, 7], [5, 13], [13, 5], [33, 70], [37, 200], [80, 50], [64, 64], [100, 100], [1, 333], [130, 130]]) {
      for (const blockM of [1, 4, 16, 64]) {
        for (const blockN of [1, 3, 16, 32, 64]) {
          for (const causal of [false, true]) {
            for (let queryStart = 0; queryStart < seqQ; queryStart += blockM) {
              const queryEnd = Math.min(seqQ, queryStart + blockM);
              expect(planKeyTiles(queryStart, queryEnd, seqQ, seqKV, blockN, causal), `${seqQ}x${seqKV} ${blockM}/${blockN} ${causal} @${queryStart}`).toEqual(
                bruteForce(queryStart, queryEnd, seqQ, seqKV, blockN, causal),
              );
            }
          }
        }
      }
    }
  });
});
