import { f16round } from '@petamoriken/float16';
import { pvRowFp16 } from './gemm-int8.js';
import type { Fp16V } from './operands.js';
import type { PvStage, PvStageLayout } from './pv-stage.js';

/**
 * fp16 P·V (INT-FlashAttention's "half" variant: INT8 Q·Kᵀ only): V was rounded to fp16 once by the pre-pass, P is
 * rounded to fp16 per tile, and products accumulate into the fp32 output row.
 */
export function createPvFp16Stage(v: Fp16V, layout: PvStageLayout): PvStage {
  const { tokens, channels: headDim, blockN } = layout;
  const vHalf = v.values; // [groups, seqKV, headDim]
  const keys = new Int32Array(blockN); // [blockN] offsets of the row's nonzero fp16 weights
  const weights = new Float32Array(blockN); // [blockN] the weights

  return {
    accumulateRow(p, pOffset, _pMax, keyCount, kvGroup, keyTile, o, oOffset) {
      let count = 0;
      for (let j = 0; j < keyCount; j++) {
        const weight = f16round(p[pOffset + j]);
        // fp16 flushes probabilities below 2^−24 to 0; those keys contribute nothing.
        if (weight === 0) continue;
        keys[count] = j;
        weights[count] = weight;
        count++;
      }
      pvRowFp16(keys, weights, count, vHalf, (kvGroup * tokens + keyTile * blockN) * headDim, headDim, o, oOffset);
    },
  };
}
