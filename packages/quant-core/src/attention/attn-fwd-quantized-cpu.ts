import { QattnError } from '../errors.js';
import { sasExp2 } from '../sas.js';
import { LOG2E, type ResolvedShape, lastVisibleKey } from '../shape.js';
import { qkRowInt8 } from './gemm-int8.js';
import { planKeyTiles, tileCount } from './key-tile-schedule.js';
import type { QuantizedAttentionOperands } from './operands.js';
import { createPvFp16Stage } from './pv-fp16.js';
import { createPvFp8Stage } from './pv-fp8.js';
import { createPvInt8Stage } from './pv-int8.js';
import type { PvStage, PvStageLayout } from './pv-stage.js';
import { type AttentionTileParams, type CpuAttentionVariant, type TileStats, checkAttentionVariant } from './variant.js';

/** Largest INT32. */
const INT32_MAX = 2 ** 31 - 1;

/**
 * Throws `ERR_QATTN_UNSUPPORTED` when an INT8 GEMM of the tile loop could overflow its INT32 accumulator:
 * Q̂·K̂ᵀ sums headDim products of at most 127², P̂·V̂ sums blockN products of at most pCodeMax · 127.
 * @param context the public function to name in the message
 */
export function assertInt32Accumulation(context: string, headDim: number, blockN: number, pCodeMax: number): void {
  const maxHeadDim = Math.floor(INT32_MAX / (127 * 127));
  if (headDim > maxHeadDim) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${context}: headDim ${headDim} exceeds ${maxHeadDim}, where INT8 dot products overflow INT32`, {
      headDim,
    });
  }
  const maxBlockN = Math.floor(INT32_MAX / (pCodeMax * 127));
  if (blockN > maxBlockN) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${context}: blockN ${blockN} exceeds ${maxBlockN}, where INT8 P·V sums overflow INT32`, { blockN });
  }
}

function checkLength(name: string, array: ArrayLike<number>, expected: number, layout: string): void {
  if (array.length !== expected) {
    throw new QattnError('ERR_QATTN_SHAPE', `attnFwdQuantizedCpu: ${name} has ${array.length} elements, ${layout} needs ${expected}`, {
      tensor: name,
      length: array.length,
      expected,
    });
  }
}

/** Checks that the operands match the shape, the tiles and the variant's P·V precision (once per call). */
function checkOperands(operands: QuantizedAttentionOperands, shape: ResolvedShape, params: AttentionTileParams, variant: CpuAttentionVariant): void {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
  const { q, k, v, vMeans } = operands;
  checkLength('q.codes', q.codes, shape.qElements, '[batch, heads, seqQ, headDim]');
  checkLength('q.rowScales', q.rowScales, batch * heads * seqQ, '[batch, heads, seqQ]');
  checkLength('k.codes', k.codes, shape.kvElements, '[batch, kvHeads, seqKV, headDim]');
  checkLength('k.rowScales', k.rowScales, batch * kvHeads * seqKV, '[batch, kvHeads, seqKV]');
  if (vMeans) checkLength('vMeans', vMeans, batch * kvHeads * headDim, '[batch, kvHeads, headDim]');
  if (v.precision !== variant.pv) {
    throw new QattnError('ERR_QATTN_OPTION', `attnFwdQuantizedCpu: V is ${v.precision} but the variant's pv is '${variant.pv}'`, { option: 'pv' });
  }
  if (v.precision === 'fp16') {
    checkLength('v.values', v.values, shape.kvElements, '[batch, kvHeads, seqKV, headDim]');
    return;
  }
  if (v.precision === 'fp8') {
    checkLength('v.codes', v.codes, shape.kvElements, '[batch, kvHeads, seqKV, headDim]');
    checkLength('v.scales', v.scales, batch * kvHeads * headDim, '[batch, kvHeads, headDim]');
    return;
  }
  checkLength('v.codes', v.codes, shape.kvElements, '[batch, kvHeads, seqKV, headDim]');
  if (v.blockN !== params.blockN) {
    throw new QattnError('ERR_QATTN_OPTION', `attnFwdQuantizedCpu: V's scales are laid out on key tiles of ${v.blockN}, the loop's blockN is ${params.blockN}`, {
      option: 'blockN',
    });
  }
  checkLength('v.scales', v.scales, batch * kvHeads * tileCount(seqKV, params.blockN) * headDim, '[batch, kvHeads, ⌈seqKV / blockN⌉, headDim]');
}

function createPvStage(operands: QuantizedAttentionOperands, variant: CpuAttentionVariant, layout: PvStageLayout): PvStage {
  const { v } = operands;
  switch (v.precision) {
    case 'int8':
      return createPvInt8Stage(v, variant, layout);
    case 'fp16':
      return createPvFp16Stage(v, layout);
    case 'fp8':
      return createPvFp8Stage(v, layout);
  }
}

/**
 * 2^x of the online softmax: SAS (exactly 0 below −threshold) or exact. `Math.exp` of a product is several times
 * faster than `2 ** x` in V8 and as accurate as the fp32 store that follows needs.
 */
function exponent(x: number, sas: boolean, threshold: number): number {
  return sas ? sasExp2(x, threshold) : Math.exp(x * Math.LN2);
}

/**
 * Quantized attention forward on the CPU, tile by tile: the one loop behind the CPU oracles of INT-FlashAttention
 * (docs/ALGORITHMS.md §1) and of TurboAttention's FlashQ + SAS (§2), which differ only in their {@link AttentionVariant}
 * and their quantization pre-pass (docs/KERNELS.md).
 *
 * For each (batch, head) and each query tile of `blockM` rows, over the key tiles of {@link planKeyTiles} (tiles above
 * the causal diagonal are never visited), with tiles of `blockN` keys:
 *
 *   S    = Q̂·K̂ᵀ                                  INT8 × INT8 → INT32                           (rows, cols)
 *   x    = S · s_q[i] · s_k[j] · σ · log2 e      fp32 logits, base 2; masked → −∞              (rows, cols)
 *   skip the tile if every row's max x < m − T   `skipSparseTiles` with SAS: its P would be 0
 *   m'   = max(m, rowmax x);  α = exp2(m − m')   online softmax; exp2 = exact or SAS (`exponent`) (rows)
 *   P    = exp2(x − m')                          SAS: exactly 0 below m' − T                   (rows, cols)
 *   l    = α·l + Σ_j P                           from the unquantized fp32 P, as FlashAttention does (rows)
 *   O    = α·O + P·V                             `pv: 'int8'`: P̂ = round(pCodeMax · P / p_r) in [0, pCodeMax], p_r =
 *                                                rowmax P or 1 (`pScale`), (P̂·V̂ in INT32) · p_r / pCodeMax · s_v[tile, d];
 *                                                `pv: 'fp16'`: fp16(P) · fp16(V) into fp32;
 *                                                `pv: 'fp8'`: e4m3(448·P) · e4m3(V / s_v) into fp32 (pv-fp8.ts)
 *                                                                                              (rows, headDim)
 *   out  = O / l · c + mean(V)                   c = s_v[d] / 448 for `'fp8'`, else 1; mean(V) when V was
 *                                                smoothed; 0 for a row that sees no key
 *
 * l sums P before quantization: P̂ rounds the many small probabilities of a tile that also holds a large one (the
 * attention sink) to 0, and normalizing by the sum of the P̂ would rescale the whole row by the lost mass (measured
 * 2–3× worse on LLM-like data). Skipping a sparse tile is exact: the running max only grows, so a score dropped
 * against it would also be dropped against the final max.
 *
 * Every fp32 quantity is stored in a Float32Array (rounded on each store); INT32 sums are exact (checked by
 * {@link assertInt32Accumulation}). Scratch is allocated once per call, nothing per element. The operands are not
 * modified.
 *
 * Throws `ERR_QATTN_SHAPE` (operands that do not match `shape`), `ERR_QATTN_OPTION` (a bad variant, V's precision or
 * key tile not the variant's / params'), `ERR_QATTN_UNSUPPORTED` (INT32 overflow).
 *
 * @returns the output `[batch, heads, seqQ, headDim]` and the tiles visited and skipped
 */
export function attnFwdQuantizedCpu(
  operands: QuantizedAttentionOperands,
  shape: ResolvedShape,
  params: AttentionTileParams,
  variant: CpuAttentionVariant,
): { out: Float32Array; stats: TileStats } {
  checkAttentionVariant(variant);
  checkOperands(operands, shape, params, variant);
  assertInt32Accumulation('attnFwdQuantizedCpu', shape.headDim, params.blockN, variant.pCodeMax);
  const { batch, heads, kvHeads, seqQ, seqKV, headDim, groupSize } = shape;
  const { blockM, blockN, causal } = params;
  const smScaleLog2 = params.scale * LOG2E;
  const sas = variant.exponent === 'sas';
  // T: under SAS a score more than T below the running max contributes exactly 0; exact exp2 drops nothing.
  const threshold = sas ? variant.sasThreshold : Infinity;
  const { skipSparseTiles } = variant;
  const { codes: qCodes, rowScales: qScales } = operands.q; // [batch·heads, seqQ, headDim], [batch·heads, seqQ]
  const { codes: kCodes, rowScales: kScales } = operands.k; // [batch·kvHeads, seqKV, headDim], [batch·kvHeads, seqKV]
  const vMeans = operands.vMeans; // [batch·kvHeads, headDim] or null
  const pv = createPvStage(operands, variant, { tokens: seqKV, channels: headDim, blockN });
  const outputScales = pv.outputScales; // [batch·kvHeads, headDim] or undefined
  const keyTiles = tileCount(seqKV, blockN);
  const stats: TileStats = { tiles: 0, skippedCausal: 0, skippedSparse: 0 };

  const out = new Float32Array(shape.qElements); // [batch, heads, seqQ, headDim]
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
        stats.tiles += keyTiles;
        stats.skippedCausal += keyTiles - plan.tiles;
        rowMax.fill(-Infinity);
        rowSum.fill(0);
        oTile.fill(0);

        for (let keyTile = 0; keyTile < plan.tiles; keyTile++) {
          const keyStart = keyTile * blockN;
          const keyCount = Math.min(blockN, seqKV - keyStart);
          const masked = keyTile >= plan.unmaskedTiles;
          const kRow0 = kvGroup * seqKV + keyStart; // first key of the tile, as a row index

          // S = Q̂·K̂ᵀ (INT32) → base-2 logits, [rows, keyCount]; note whether any row keeps a score above m − T.
          let tileKept = false;
          for (let i = 0; i < rows; i++) {
            const query = queryStart + i;
            const qRow = qGroup * seqQ + query;
            const qDescale = qScales[qRow] * smScaleLog2;
            // Keys after `visibleCount` are masked for this row (only in tiles that straddle the diagonal).
            const visibleCount = masked ? Math.max(0, Math.min(keyCount, lastVisibleKey(query, seqQ, seqKV, causal) + 1 - keyStart)) : keyCount;
            qkRowInt8(qCodes, qRow * headDim, kCodes, kRow0 * headDim, visibleCount, headDim, dots);
            const scoreRow = i * blockN;
            let max = -Infinity;
            for (let j = 0; j < visibleCount; j++) {
              const logit = dots[j] * qDescale * kScales[kRow0 + j];
              scores[scoreRow + j] = logit;
              if (logit > max) max = logit;
            }
            for (let j = visibleCount; j < keyCount; j++) scores[scoreRow + j] = -Infinity;
            tileRowMax[i] = max;
            if (max > -Infinity && max >= rowMax[i] - threshold) tileKept = true;
          }
          if (skipSparseTiles && !tileKept) {
            stats.skippedSparse++;
            continue;
          }

          for (let i = 0; i < rows; i++) {
            // Online softmax in base 2; P overwrites the logits.
            const previousMax = rowMax[i];
            const newMax = tileRowMax[i] > previousMax ? tileRowMax[i] : previousMax;
            if (newMax === -Infinity) continue; // no visible key for this row yet: nothing to add or rescale
            const scoreRow = i * blockN;
            let tileSum = 0;
            let pMax = 0;
            for (let j = 0; j < keyCount; j++) {
              const probability = exponent(scores[scoreRow + j] - newMax, sas, threshold);
              scores[scoreRow + j] = probability;
              tileSum += probability;
              if (probability > pMax) pMax = probability;
            }
            let correction = 1;
            if (newMax !== previousMax) {
              correction = exponent(previousMax - newMax, sas, threshold); // 0 on the row's first visible tile
              const o = i * headDim;
              for (let d = 0; d < headDim; d++) oTile[o + d] *= correction;
              rowMax[i] = newMax;
            }
            rowSum[i] = correction * rowSum[i] + tileSum;
            pv.accumulateRow(scores, scoreRow, pMax, keyCount, kvGroup, keyTile, oTile, i * headDim);
          }
        }

        // Epilogue: O / l (times the stage's per-channel factor: fp8's V scale / 448, each product rounded to fp32),
        // plus V's mean when V was smoothed (P's rows sum to 1 after the division).
        const channelRow = kvGroup * headDim;
        for (let i = 0; i < rows; i++) {
          const l = rowSum[i];
          if (l === 0) continue; // sees no key: the output row stays 0
          const outRow = (qGroup * seqQ + queryStart + i) * headDim;
          const inverse = 1 / l;
          const o = i * headDim;
          for (let d = 0; d < headDim; d++) {
            const normalized = outputScales ? Math.fround(Math.fround(oTile[o + d] * inverse) * outputScales[channelRow + d]) : oTile[o + d] * inverse;
            out[outRow + d] = vMeans ? normalized + vMeans[channelRow + d] : normalized;
          }
        }
      }
    }
  }
  return { out, stats };
}
