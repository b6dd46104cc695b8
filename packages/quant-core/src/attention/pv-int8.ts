import { roundHalfEven } from '../quantize.js';
import { pvRowInt8 } from './gemm-int8.js';
import { tileCount } from './key-tile-schedule.js';
import type { Int8TileV } from './operands.js';
import type { PvStage, PvStageLayout } from './pv-stage.js';
import type { AttentionVariant } from './variant.js';

/**
 * What the largest P code (`pCodeMax`) stands for, per `pScale` (the P quantizer as data). `global`: P ≤ 1 after max
 * subtraction, so one fixed scale fits every row. `rowmax`: the row's largest P within the key tile, so tiles far below
 * the running max (every tile after an attention sink) keep full resolution instead of a few levels.
 */
const P_RANGE: Record<AttentionVariant['pScale'], (pMax: number) => number> = {
  global: () => 1,
  rowmax: (pMax) => pMax,
};

/**
 * INT8 P·V: per row and key tile, P is quantized to [0, pCodeMax] with its scale (half to even), P̂·V̂ accumulates in
 * INT32, and the tile's result is dequantized with pRange/pCodeMax · s_v[key tile, channel] into the fp32 output row.
 */
export function createPvInt8Stage(v: Int8TileV, variant: Pick<AttentionVariant, 'pScale' | 'pCodeMax'>, layout: PvStageLayout): PvStage {
  const { tokens, channels: headDim, blockN } = layout;
  const { codes: vCodes, scales: vScales } = v; // [groups, seqKV, headDim], [groups, keyTiles, headDim]
  const keyTiles = tileCount(tokens, blockN);
  const pRangeOf = P_RANGE[variant.pScale];
  const pCodeMax = variant.pCodeMax;
  const keys = new Int32Array(blockN); // [blockN] offsets of the row's nonzero P codes
  const codes = new Int32Array(blockN); // [blockN] the codes
  const acc = new Int32Array(headDim); // [headDim] INT32 P̂·V̂ of one row and tile

  return {
    accumulateRow(p, pOffset, pMax, keyCount, kvGroup, keyTile, o, oOffset) {
      const pRange = pRangeOf(pMax);
      if (pRange === 0) return;
      const toCode = pCodeMax / pRange;
      let count = 0;
      for (let j = 0; j < keyCount; j++) {
        const code = roundHalfEven(p[pOffset + j] * toCode) | 0;
        // Zero codes contribute nothing; dropping them is exact (and most of P is 0 after a sharp softmax or SAS).
        if (code === 0) continue;
        keys[count] = j;
        codes[count] = code;
        count++;
      }
      if (count === 0) return;
      pvRowInt8(keys, codes, count, vCodes, (kvGroup * tokens + keyTile * blockN) * headDim, headDim, acc);
      const pDescale = pRange / pCodeMax;
      const scaleRow = (kvGroup * keyTiles + keyTile) * headDim;
      for (let d = 0; d < headDim; d++) o[oOffset + d] += acc[d] * pDescale * vScales[scaleRow + d];
    },
  };
}
