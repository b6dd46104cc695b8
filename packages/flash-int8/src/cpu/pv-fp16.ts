import { f16round } from '@petamoriken/float16';
import { type TensorView, smoothChannels } from '@qattn/quant-core';
import type { ResolvedFlashInt8Options } from '../options.js';
import { pvRowFp32 } from './gemm-int8.js';
import type { PvStage } from './pv-stage.js';

/**
 * fp16 P·V (the paper's "half" variant: INT8 Q·Kᵀ only): V is rounded to fp16 once, P to fp16 per tile, and products
 * accumulate into the fp32 output row.
 */
export function createPvFp16Stage(v: Float32Array, view: TensorView, options: ResolvedFlashInt8Options): PvStage {
  const { tokens, channels: headDim } = view;
  const smoothed = options.smoothV ? smoothChannels(v, view) : null;
  const source = smoothed ? smoothed.smoothed : v;
  const vHalf = new Float32Array(source.length); // [groups, seqKV, headDim], fp16 values held in fp32
  // No value overflows: flashInt8Attention refuses V beyond fp16's range before any backend runs (input-ranges.ts).
  for (let i = 0; i < source.length; i++) vHalf[i] = f16round(source[i]);
  const keys = new Int32Array(options.blockN); // [blockN] offsets of the row's nonzero fp16 weights
  const weights = new Float32Array(options.blockN); // [blockN] the weights

  return {
    vMeans: smoothed ? smoothed.means : null,
    accumulateRow(p, pOffset, _pMax, keyCount, kvGroup, keyStart, _keyTile, o, oOffset) {
      let count = 0;
      for (let j = 0; j < keyCount; j++) {
        const weight = f16round(p[pOffset + j]);
        // fp16 flushes probabilities below 2^−24 to 0; those keys contribute nothing.
        if (weight === 0) continue;
        keys[count] = j;
        weights[count] = weight;
        count++;
      }
      pvRowFp32(keys, weights, count, vHalf, (kvGroup * tokens + keyStart) * headDim, headDim, o, oOffset);
    },
  };
}
