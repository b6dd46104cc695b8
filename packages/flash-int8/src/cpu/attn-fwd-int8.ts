import { LOG2E, type ResolvedShape, lastVisibleKey, smoothK } from '@qattn/quant-core';
import type { ResolvedFlashInt8Options } from '../options.js';
import { qkRowInt8 } from './gemm-int8.js';
import { rotateRows } from './hadamard.js';
import { createPvFp16Stage } from './pv-fp16.js';
import { createPvInt8Stage } from './pv-int8.js';
import type { PvStageFactory } from './pv-stage.js';
import { quantizeQkInt8 } from './quantize-qk.js';
import { planKeyTiles } from './schedule.js';

/** The P·V variants, keyed by `options.pv`. */
const PV_STAGES: Record<ResolvedFlashInt8Options['pv'], PvStageFactory> = {
  int8: createPvInt8Stage,
  fp16: createPvFp16Stage,
};

/**
 * INT-FlashAttention forward on the CPU, tile by tile (ALGORITHMS.md §1), the readable oracle of the GPU kernels.
 *
 * Pre-pass: optional K smoothing and Hadamard rotation of Q and K; Q and K to INT8 per token (or per block); V
 * prepared by the P·V stage.
 * Per (batch, head) and query tile of blockM rows, over the key tiles of {@link planKeyTiles}:
 *   1. S = Q̂·K̂ᵀ in INT8 with INT32 accumulation, dequantized with s_q·s_k·smScaleLog2 (logits in base 2);
 *   2. online softmax: m_new = max(m, rowmax S), P = exp2(S − m_new), O and l rescaled by exp2(m − m_new);
 *   3. l += Σ P (fp32); O += P·V through the P·V stage (INT8 P and V with INT32 accumulation, or fp16).
 * Finally O / l (+ V's mean when smoothed); rows that see no key (causal, seqQ > seqKV) are 0.
 *
 * Inputs must already be validated; they are never modified.
 */
export function attnFwdInt8Cpu(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: ResolvedShape,
  scale: number,
  causal: boolean,
  options: ResolvedFlashInt8Options,
): Float32Array {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim, groupSize } = shape;
  const { blockM, blockN } = options;
  const smScaleLog2 = scale * LOG2E;

  const qView = { groups: batch * heads, tokens: seqQ, channels: headDim };
  const kvView = { groups: batch * kvHeads, tokens: seqKV, channels: headDim };
  const kSmoothed = options.smoothK ? smoothK(k, shape).smoothed : k;
  const qSource = options.hadamard ? rotateRows(q, headDim) : q;
  const kSource = options.hadamard ? rotateRows(kSmoothed, headDim) : kSmoothed;
  const qInt8 = quantizeQkInt8(qSource, qView, options.qkGranularity, blockM);
  const kInt8 = quantizeQkInt8(kSource, kvView, options.qkGranularity, blockN);
  const pv = PV_STAGES[options.pv](v, kvView, options);
  const qCodes = qInt8.codes; // [batch·heads, seqQ, headDim]
  const kCodes = kInt8.codes; // [batch·kvHeads, seqKV, headDim]
  const kScales = kInt8.rowScales; // [batch·kvHeads, seqKV]

  const out = new Float32Array(shape.qElements); // [batch, heads, seqQ, headDim]
  // Tile buffers, allocated once per call and reused by every tile.
  const dots = new Int32Array(blockN); // [blockN]: one row of Q̂·K̂ᵀ
  const scores = new Float32Array(blockM * blockN); // [blockM, blockN]: base-2 logits, then probabilities
  const tileRowMax = new Float32Array(blockM); // [blockM]: max logit of the row within the current key tile
  const rowMax = new Float32Array(blockM); // [blockM]: running max m
  const rowSum = new Float32Array(blockM); // [blockM]: running denominator l
  const oTile = new Float32Array(blockM * headDim); // [blockM, headDim]: fp32 output accumulator

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const qGroup = b * heads + h;
      const kvGroup = b * kvHeads + Math.floor(h / groupSize);
      for (let queryStart = 0; queryStart < seqQ; queryStart += blockM) {
        const rows = Math.min(blockM, seqQ - queryStart);
        const plan = planKeyTiles(queryStart, queryStart + rows, seqQ, seqKV, blockN, causal);
        rowMax.fill(-Infinity);
        rowSum.fill(0);
        oTile.fill(0);

        for (let keyTile = 0; keyTile < plan.tiles; keyTile++) {
          const keyStart = keyTile * blockN;
          const keyCount = Math.min(blockN, seqKV - keyStart);
          const masked = keyTile >= plan.unmaskedTiles;

          // 1. S = Q̂·K̂ᵀ (INT32) → base-2 logits, [rows, keyCount].
          for (let i = 0; i < rows; i++) {
            const query = queryStart + i;
            const qRow = (qGroup * seqQ + query) * headDim;
            const qDescale = qInt8.rowScales[qGroup * seqQ + query] * smScaleLog2;
            // Keys after `visibleCount` are masked for this row (only in tiles that straddle the diagonal).
            const visibleCount = masked
              ? Math.max(0, Math.min(keyCount, lastVisibleKey(query, seqQ, seqKV, causal) + 1 - keyStart))
              : keyCount;
            qkRowInt8(qCodes, qRow, kCodes, (kvGroup * seqKV + keyStart) * headDim, visibleCount, headDim, dots);
            let max = -Infinity;
            for (let j = 0; j < visibleCount; j++) {
              const logit = dots[j] * qDescale * kScales[kvGroup * seqKV + keyStart + j];
              scores[i * blockN + j] = logit;
              if (logit > max) max = logit;
            }
            for (let j = visibleCount; j < keyCount; j++) scores[i * blockN + j] = -Infinity;
            tileRowMax[i] = max;
          }

          for (let i = 0; i < rows; i++) {
            // 2. Online softmax in base 2.
            const previousMax = rowMax[i];
            const newMax = Math.max(previousMax, tileRowMax[i]);
            if (newMax === -Infinity) continue; // no visible key for this row yet
            const p = i * blockN;
            let tileSum = 0;
            for (let j = 0; j < keyCount; j++) {
              const probability = exp2(scores[p + j] - newMax);
              scores[p + j] = probability;
              tileSum += probability;
            }
            if (newMax !== previousMax) {
              const correction = exp2(previousMax - newMax); // 0 on the row's first visible tile
              rowSum[i] *= correction;
              const o = i * headDim;
              for (let d = 0; d < headDim; d++) oTile[o + d] *= correction;
              rowMax[i] = newMax;
            }
            // 3. O += P·V.
            const pMax = exp2(tileRowMax[i] - newMax);
            rowSum[i] += tileSum;
            pv.accumulateRow(scores, p, pMax, keyCount, kvGroup, keyStart, keyTile, oTile, i * headDim);
          }
        }

        // Epilogue: O / l, plus V's mean when V was smoothed (P's rows sum to 1 after the division).
        const means = pv.vMeans;
        for (let i = 0; i < rows; i++) {
          const outRow = (qGroup * seqQ + queryStart + i) * headDim;
          const l = rowSum[i];
          if (l === 0) continue; // sees no key: output stays 0
          const inverse = 1 / l;
          const o = i * headDim;
          if (means) {
            const meanRow = kvGroup * headDim;
            for (let d = 0; d < headDim; d++) out[outRow + d] = oTile[o + d] * inverse + means[meanRow + d];
          } else {
            for (let d = 0; d < headDim; d++) out[outRow + d] = oTile[o + d] * inverse;
          }
        }
      }
    }
  }
  return out;
}

/** 2^x. `Math.exp` of a product is several times faster than `2 ** x` in V8 and as accurate as fp32 needs. */
function exp2(x: number): number {
  return Math.exp(x * Math.LN2);
}
