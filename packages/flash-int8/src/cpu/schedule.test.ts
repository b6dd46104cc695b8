import { lastVisibleKey } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { planKeyTiles } from './schedule.js';

describe('planKeyTiles', () => {
  it('non-causal: every tile, none masked', () => {
    expect(planKeyTiles(0, 64, 100, 100, 32, false)).toEqual({ tiles: 4, unmaskedTiles: 4, keyEnd: 100 });
  });

  it('causal square: tiles up to the diagonal, the diagonal tile masked', () => {
    // Queries 64..127 of 256 see keys ≤ 64..127: tiles 0, 1 are clean, tiles 2, 3 straddle the diagonal.
    expect(planKeyTiles(64, 128, 256, 256, 32, true)).toEqual({ tiles: 4, unmaskedTiles: 2, keyEnd: 128 });
  });

  it('causal seqQ > seqKV: a tile of queries that see no key visits nothing', () => {
    expect(planKeyTiles(0, 10, 100, 50, 16, true)).toEqual({ tiles: 0, unmaskedTiles: 0, keyEnd: 0 });
  });

  it('agrees with the mask element by element (exhaustive over small shapes)', () => {
    const violations: string[] = [];
    for (const causal of [false, true]) {
      for (const [seqQ, seqKV] of [[1, 1], [7, 7], [5, 13], [13, 5], [33, 70], [64, 64]]) {
        for (const blockM of [1, 4, 16, 64]) {
          for (const blockN of [1, 3, 16, 64]) {
            for (let queryStart = 0; queryStart < seqQ; queryStart += blockM) {
              const queryEnd = Math.min(seqQ, queryStart + blockM);
              const plan = planKeyTiles(queryStart, queryEnd, seqQ, seqKV, blockN, causal);
              const totalTiles = Math.ceil(seqKV / blockN);
              if (plan.unmaskedTiles > plan.tiles) violations.push(`unmaskedTiles > tiles: ${JSON.stringify(plan)}`);
              for (let tile = 0; tile < totalTiles; tile++) {
                let visible = 0;
                let hidden = 0;
                for (let i = queryStart; i < queryEnd; i++) {
                  for (let j = tile * blockN; j < Math.min(seqKV, (tile + 1) * blockN); j++) {
                    if (j <= lastVisibleKey(i, seqQ, seqKV, causal)) visible++;
                    else hidden++;
                  }
                }
                const context = JSON.stringify({ causal, seqQ, seqKV, blockM, blockN, queryStart, tile, plan });
                // Skipped tiles hide every key; visited tiles show at least one; clean tiles hide none.
                if (tile >= plan.tiles && visible > 0) violations.push(`skipped tile shows ${visible} keys: ${context}`);
                if (tile < plan.tiles && visible === 0) violations.push(`visited tile shows no key: ${context}`);
                if (tile < plan.unmaskedTiles && hidden > 0) violations.push(`clean tile hides ${hidden} keys: ${context}`);
              }
            }
          }
        }
      }
    }
    expect(violations).toEqual([]);
  });
});
