import { LOG2E, type ResolvedShape, lastVisibleKey, roundHalfEven } from '@qattn/quant-core';
import type { FlashQOperands } from './quantize_flashq_cpu.js';
import { pvTileInt8, qkTileInt8 } from './gemm_int8_cpu.js';
import { keyTileRange } from './tile-schedule.js';
import type { FlashQVariant } from './variant.js';

/** Tile sizes and the shared attention options of one call. */
export interface FlashQParams {
  scale: number;
  causal: boolean;
  blockM: number;
  blockN: number;
}

/** What the kernel skipped, for tests and reports. Counts are of (query tile × key tile) pairs over batch and heads. */
export interface FlashQStats {
  tiles: number;
  /** Tiles entirely above the causal diagonal: never loaded. */
  skippedCausal: number;
  /** Tiles whose every score is below row max − T: SAS makes their P exactly 0, so P and P·V are skipped. */
  skippedSparse: number;
}

/**
 * FlashQ attention forward on the CPU — the readable oracle of TurboAttention's kernel.
 *
 * For each (batch, head) and each query tile of `blockM` rows, walking the key tiles of `blockN` keys:
 *
 *   S     = Q̂·K̂ᵀ                                  INT8 × INT8 → INT32                          (rows, cols)
 *   x     = S · (s_q · s_k · scale · log2 e)     fp32 logits, base 2; masked → −∞              (rows, cols)
 *   m'    = max(m, rowmax x);  α = exp2(m − m')  online softmax, exp2 = SAS or exact          (rows)
 *   P     = exp2(x − m')                          SAS: exactly 0 below m' − T                   (rows, cols)
 *   P̂     = round(127 · P / p_r)                  INT8 in [0, 127]; p_r = rowmax P or 1 (pScale) (rows, cols)
 *   O     = α·O + (P̂·V̂ in INT32) · (p_r / 127) · s_v[d]     s_v per tile, or per tile and channel (rows, headDim)
 *   l     = α·l + Σ_j P                            from the unquantized P, as FlashAttention does (rows)
 *   out   = O / l + mean(V)                       mean(V) when V was smoothed; 0 for a row that sees no key
 *
 * l sums P before quantization: P̂ rounds the many small probabilities of a tile that also holds a large one (the
 * attention sink) to 0, and normalizing by the sum of the P̂ would then rescale the whole row by the lost mass —
 * measured 2–3× worse on LLM-like data (3.0% vs 1.3% relative L2 from P alone at blockN 64).
 *
 * Key tiles above the causal diagonal are never visited; a tile whose every score lies more than T below its row's
 * running max contributes exactly 0 under SAS and is skipped after Q·Kᵀ (the running max only grows, so a score
 * dropped against it would also be dropped against the final max). fp32 values are stored in Float32Arrays (rounded
 * on every store); INT32 sums are exact in float64 (|S| ≤ 127²·headDim < 2^31: the backend rejects larger head dims).
 *
 * Scratch is allocated once per call; nothing is allocated per element.
 */
export function attnFwdFlashQCpu(
  operands: FlashQOperands,
  shape: ResolvedShape,
  params: FlashQParams,
  variant: FlashQVariant,
): { out: Float32Array; stats: FlashQStats } {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim, groupSize } = shape;
  const { blockM, blockN, causal } = params;
  const { qInt8, qScale, kInt8, kScale, vInt8, vScale, vMeans } = operands;
  const noMeans = new Float32Array(headDim);
  const { exp2, threshold, skipSparseTiles, pScale } = variant;
  const smScaleLog2 = Math.fround(params.scale * LOG2E);
  // V scales per (tile) or per (tile, channel): the channel step makes one loop serve both layouts.
  const vScaleStride = operands.vChannelScales ? headDim : 1;
  const vChannelStep = operands.vChannelScales ? 1 : 0;
  const qTiles = Math.ceil(seqQ / blockM);
  const kvTiles = Math.ceil(seqKV / blockN);
  const stats: FlashQStats = { tiles: 0, skippedCausal: 0, skippedSparse: 0 };

  const out = new Float32Array(shape.qElements); // [batch, heads, seqQ, headDim]
  const dots = new Int32Array(blockM * blockN); // (rows, cols): S = Q̂·K̂ᵀ
  const scores = new Float32Array(blockM * blockN); // (rows, cols): x, then P in place
  const pInt8 = new Int8Array(blockM * blockN); // (rows, cols)
  const pvInt32 = new Int32Array(blockM * headDim); // (rows, headDim)
  const oAcc = new Float32Array(blockM * headDim); // (rows, headDim)
  const rowMax = new Float32Array(blockM); // m, running, base 2
  const rowSum = new Float32Array(blockM); // l, running
  const tileMax = new Float32Array(blockM); // rowmax x of the current tile
  const alpha = new Float32Array(blockM); // exp2(m_old − m_new)
  const pDescale = new Float32Array(blockM); // p_r / 127

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvHead = (h / groupSize) | 0;
      const qHeadBase = (b * heads + h) * seqQ * headDim;
      const kvHeadBase = (b * kvHeads + kvHead) * seqKV * headDim;
      const qScaleBase = (b * heads + h) * qTiles;
      const kvScaleBase = (b * kvHeads + kvHead) * kvTiles;
      const vMeanOf = vMeans ? vMeans.subarray((b * kvHeads + kvHead) * headDim, (b * kvHeads + kvHead + 1) * headDim) : noMeans;

      for (let qt = 0; qt < qTiles; qt++) {
        const rowStart = qt * blockM;
        const rows = Math.min(blockM, seqQ - rowStart);
        const { visitTiles, unmaskedTiles } = keyTileRange(rowStart, rowStart + rows, seqQ, seqKV, blockN, causal);
        stats.tiles += kvTiles;
        stats.skippedCausal += kvTiles - visitTiles;
        rowMax.fill(-Infinity);
        rowSum.fill(0);
        oAcc.fill(0);
        const sQ = qScale[qScaleBase + qt];

        for (let kt = 0; kt < visitTiles; kt++) {
          const keyStart = kt * blockN;
          const cols = Math.min(blockN, seqKV - keyStart);
          const qkDescale = Math.fround(sQ * kScale[kvScaleBase + kt] * smScaleLog2);
          const masked = kt >= unmaskedTiles;

          // S = Q̂·K̂ᵀ (INT32) up to the last row's last visible key, then x = S·descale with the mask applied; note
          // whether any row keeps a score above its running max − T.
          const tileCols = masked ? Math.min(cols, lastVisibleKey(rowStart + rows - 1, seqQ, seqKV, causal) - keyStart + 1) : cols;
          qkTileInt8(qInt8, qHeadBase + rowStart * headDim, kInt8, kvHeadBase + keyStart * headDim, rows, tileCols, headDim, dots, blockN);
          let tileKept = false;
          for (let r = 0; r < rows; r++) {
            const visibleCols = masked ? Math.max(0, Math.min(cols, lastVisibleKey(rowStart + r, seqQ, seqKV, causal) - keyStart + 1)) : cols;
            const scoreRow = r * blockN;
            let max = -Infinity;
            for (let c = 0; c < visibleCols; c++) {
              const x = Math.fround(dots[scoreRow + c] * qkDescale);
              scores[scoreRow + c] = x;
              if (x > max) max = x;
            }
            for (let c = visibleCols; c < cols; c++) scores[scoreRow + c] = -Infinity;
            tileMax[r] = max;
            if (max > -Infinity && max >= rowMax[r] - threshold) tileKept = true;
          }
          if (skipSparseTiles && !tileKept) {
            stats.skippedSparse++;
            continue;
          }

          // Online softmax with the variant's exp2; P overwrites x, then P̂ = round(127·P / p_r).
          for (let r = 0; r < rows; r++) {
            const scoreRow = r * blockN;
            const mOld = rowMax[r];
            const mNew = tileMax[r] > mOld ? tileMax[r] : mOld;
            if (mNew === -Infinity) {
              // The row sees no key yet: nothing to add, nothing to rescale.
              alpha[r] = 1;
              pDescale[r] = 0;
              pInt8.fill(0, scoreRow, scoreRow + cols);
              continue;
            }
            alpha[r] = mOld === mNew ? 1 : exp2(mOld - mNew, threshold);
            rowMax[r] = mNew;
            let pMax = 0;
            let pSum = 0;
            for (let c = 0; c < cols; c++) {
              const p = exp2(scores[scoreRow + c] - mNew, threshold);
              scores[scoreRow + c] = p;
              pSum += p;
              if (p > pMax) pMax = p;
            }
            rowSum[r] = Math.fround(alpha[r] * rowSum[r] + pSum);
            const rowScale = pScale === 'rowmax' ? pMax : 1;
            const toCode = rowScale > 0 ? 127 / rowScale : 0;
            for (let c = 0; c < cols; c++) pInt8[scoreRow + c] = roundHalfEven(scores[scoreRow + c] * toCode);
            pDescale[r] = rowScale / 127;
          }

          // O = α·O + (P̂·V̂)·(p_r/127)·s_v, the P·V product in INT32.
          pvTileInt8(pInt8, blockN, vInt8, kvHeadBase + keyStart * headDim, rows, cols, headDim, pvInt32);
          const vScaleRow = (kvScaleBase + kt) * vScaleStride;
          for (let r = 0; r < rows; r++) {
            const accRow = r * headDim;
            const a = alpha[r];
            const pRowDescale = pDescale[r];
            for (let d = 0; d < headDim; d++) {
              oAcc[accRow + d] = a * oAcc[accRow + d] + pvInt32[accRow + d] * pRowDescale * vScale[vScaleRow + d * vChannelStep];
            }
          }
        }

        // Normalize (+ V's mean when V was smoothed); a row that saw no key (causal, seqQ > seqKV) stays 0.
        for (let r = 0; r < rows; r++) {
          if (rowSum[r] === 0) continue;
          const inverse = 1 / rowSum[r];
          const outRow = qHeadBase + (rowStart + r) * headDim;
          const accRow = r * headDim;
          for (let d = 0; d < headDim; d++) out[outRow + d] = oAcc[accRow + d] * inverse + vMeanOf[d];
        }
      }
    }
  }
  return { out, stats };
}
