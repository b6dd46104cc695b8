import { lastVisibleKey } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { keyTileRange } from './tile-schedule.js';

/** The schedule by brute force: visit a tile iff some row sees one of its keys; unmasked iff every row sees all. */
function bruteForce(rowStart: number, rowEnd: number, seqQ: number, seqKV: number, blockN: number, causal: boolean) {
  const tiles = Math.ceil(seqKV / blockN);
  let visitTiles = 0;
  let unmaskedTiles = 0;
  let prefixUnmasked = true;
  for (let t = 0; t < tiles; t++) {
    const keyEnd = Math.min(seqKV, (t + 1) * blockN) - 1;
    let anySees = false;
    let allSeeAll = true;
    for (let i = rowStart; i < rowEnd; i++) {
      const last = lastVisibleKey(i, seqQ, seqKV, causal);
      if (last >= t * blockN) anySees = true;
      if (last < keyEnd) allSeeAll = false;
    }
    if (anySees) visitTiles = t + 1;
    if (prefixUnmasked && allSeeAll) unmaskedTiles = t + 1;
    else prefixUnmasked = false;
  }
  return { visitTiles, unmaskedTiles: Math.min(unmaskedTiles, visitTiles) };
}

describe('keyTileRange', () => {
  it('matches the brute-force schedule for causal and non-causal shapes, seqQ < = > seqKV, ragged tiles', () => {
    for (const [seqQ, seqKV] of [[1, 1], [7, 7], [37, 200], [80, 50], [64, 64], [100, 100], [1, 333], [130, 130]]) {
      for (const blockM of [1, 16, 64]) {
        for (const blockN of [1, 16, 32, 64]) {
          for (const causal of [false, true]) {
            for (let rowStart = 0; rowStart < seqQ; rowStart += blockM) {
              const rowEnd = Math.min(seqQ, rowStart + blockM);
              expect(keyTileRange(rowStart, rowEnd, seqQ, seqKV, blockN, causal), `${seqQ}x${seqKV} ${blockM}/${blockN} ${causal} @${rowStart}`).toEqual(
                bruteForce(rowStart, rowEnd, seqQ, seqKV, blockN, causal),
              );
            }
          }
        }
      }
    }
  });

  it('visits nothing for query tiles that see no key (causal, seqQ > seqKV)', () => {
    expect(keyTileRange(0, 16, 80, 50, 32, true)).toEqual({ visitTiles: 0, unmaskedTiles: 0 });
  });

  it('visits every tile unmasked without a causal mask', () => {
    expect(keyTileRange(0, 64, 64, 100, 64, false)).toEqual({ visitTiles: 2, unmaskedTiles: 2 });
  });
});
