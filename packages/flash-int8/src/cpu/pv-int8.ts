import { type TensorView, quantize, roundHalfEven, smoothChannels } from '@qattn/quant-core';
import type { ResolvedFlashInt8Options } from '../options.js';
import { pvRowInt8 } from './gemm-int8.js';
import type { PvStage } from './pv-stage.js';
import { tileCount } from './schedule.js';

/**
 * What value the largest P code (`pCodeMax`) stands for, per `pScale` (the P quantizer as data). `global` is the paper: P ≤ 1 after max
 * subtraction, so one fixed scale 1/127 fits every row. `rowmax` uses the row's largest P within the key tile, so tiles
 * far below the running max (every tile after an attention sink) keep 7 bits of resolution instead of a few levels.
 */
const P_RANGE: Record<ResolvedFlashInt8Options['pScale'], (pMax: number) => number> = {
  global: () => 1,
  rowmax: (pMax) => pMax,
};

/** `vGranularity` → quant-core granularity of V's scales. */
function vGranularity(options: ResolvedFlashInt8Options) {
  switch (options.vGranularity) {
    case 'head':
      return { kind: 'head' } as const;
    case 'channel':
      return { kind: 'channel' } as const;
    case 'blockChannel':
      return { kind: 'blockChannel', blockSize: options.blockN } as const;
  }
}

/**
 * INT8 P·V (the paper's full method): V quantized once to INT8 with the chosen granularity; per row and key tile, P is
 * quantized to [0, pCodeMax] with its scale, P̂·V̂ accumulates in INT32, and the tile's result is dequantized with
 * pRange/pCodeMax · s_v[channel] into the fp32 output row.
 */
export function createPvInt8Stage(v: Float32Array, view: TensorView, options: ResolvedFlashInt8Options): PvStage {
  const { groups, tokens, channels: headDim } = view;
  const smoothed = options.smoothV ? smoothChannels(v, view) : null;
  const quantized = quantize(smoothed ? smoothed.smoothed : v, view, { bits: 8, scheme: 'symmetric', granularity: vGranularity(options) });
  if (quantized.scheme !== 'symmetric') throw new Error('unreachable: symmetric quantization requested');
  const vCodes = quantized.values; // [groups, seqKV, headDim]

  // Every granularity is expanded to one scale per (group, key tile, channel) so the tile loop has a single form.
  const keyTiles = tileCount(tokens, options.blockN);
  const vScales = new Float32Array(groups * keyTiles * headDim); // [groups, keyTiles, headDim]
  const { layout, scales } = quantized;
  const [, cellsT, cellsC] = layout.shape;
  for (let g = 0; g < groups; g++) {
    for (let t = 0; t < keyTiles; t++) {
      // Key tiles never straddle V blocks: blockChannel blocks are blockN keys, the other kinds span all tokens.
      const tokenCell = Math.floor((t * options.blockN) / layout.tokensPerCell);
      for (let d = 0; d < headDim; d++) {
        const cell = (g * cellsT + tokenCell) * cellsC + (cellsC === 1 ? 0 : d);
        vScales[(g * keyTiles + t) * headDim + d] = scales[cell];
      }
    }
  }

  const pRangeOf = P_RANGE[options.pScale];
  const pCodeMax = options.pCodeMax;
  const keys = new Int32Array(options.blockN); // [blockN] offsets of the row's nonzero P codes
  const codes = new Int32Array(options.blockN); // [blockN] the codes
  const acc = new Int32Array(headDim); // [headDim] INT32 P̂·V̂ of one row and tile

  return {
    vMeans: smoothed ? smoothed.means : null,
    accumulateRow(p, pOffset, pMax, keyCount, kvGroup, keyStart, keyTile, o, oOffset) {
      const pRange = pRangeOf(pMax);
      if (pRange === 0) return;
      const toCode = pCodeMax / pRange;
      let count = 0;
      for (let j = 0; j < keyCount; j++) {
        const code = roundHalfEven(p[pOffset + j] * toCode) | 0;
        // Zero codes contribute nothing; dropping them is exact (and most of P is 0 after a sharp softmax).
        if (code === 0) continue;
        keys[count] = j;
        codes[count] = code;
        count++;
      }
      if (count === 0) return;
      pvRowInt8(keys, codes, count, vCodes, (kvGroup * tokens + keyStart) * headDim, headDim, acc);
      const pDescale = pRange / pCodeMax;
      const scaleRow = (kvGroup * keyTiles + keyTile) * headDim;
      for (let d = 0; d < headDim; d++) o[oOffset + d] += acc[d] * pDescale * vScales[scaleRow + d];
    },
  };
}
