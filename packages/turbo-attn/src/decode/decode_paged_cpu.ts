import { type KVCacheStorage, type PagePoolStorage, decodePageInt8, hadamardRotate, hadamardUnrotate, quantizeRowInt8, tokenPlacement } from '@qattn/kv-cache';
import { type AttentionVariant, LOG2E, roundHalfEven, sasExp2 } from '@qattn/quant-core';
import { type AttentionState, mergeStateRows } from './merge-attention-states.js';
import { splitKVSchedule } from './split-kv-schedule.js';

/** The softmax choices decode reads from quant-core's attention variant record. */
export type DecodeVariant = Pick<AttentionVariant, 'exponent' | 'sasThreshold' | 'skipSparseTiles'>;

/** One decode call, validated. */
export interface DecodeParams {
  heads: number;
  queryTokens: number;
  /** Softmax scale σ (default already applied). */
  scale: number;
  pagesPerSplit: number;
  variant: DecodeVariant;
}

/** How V's codes of a chunk are laid out: pages are channel-major `[headDim, pageSize]`, the buffer token-major. */
type VMajor = 'channel' | 'token';

/**
 * Decode attention over a paged, quantized KV cache on the CPU — the oracle of the GPU decode kernels.
 *
 * Per (sequence b, kv head g), the rows are the query heads of g (GQA packed: every page is decompressed once for all
 * of them) × the queryTokens new tokens; row (h, i) sees keys j ≤ L − queryTokens + i. q is rotated like the cache
 * (Hadamard), then quantized to INT8 per row. The keys are cut into splits ({@link splitKVSchedule}); each split runs an
 * online base-2 softmax over its chunks and yields a partial state (out, lse); the states are merged
 * ({@link mergeStateRows}) and the output un-rotated. Per chunk:
 *
 *   sink (float32)    x = (q·k)·σ·log2 e in fp32, P·V in fp32 (the attention sink is never quantized)
 *   page (INT4/INT2)  k̂, v̂ = decompressed to INT8 in the integer domain (kv-cache's `decodePageInt8`)
 *   page (INT8) and   x = (q̂·k̂ in INT32) · s_q · s_k · σ · log2 e + δ       s_k: the page's block scale, or per token
 *   INT8 buffer       P̂ = round(127 · p·s_v / max(p·s_v)) in [0, 127]; O += (P̂·v̂ in INT32) · max(p·s_v) / 127
 *
 * δ = (q − q̂·s_q)·mean(K)·σ·log2 e puts back the part of q's rounding error that does not average over keys: LLM keys
 * share a large mean (their outlier channels), and q's rounding shifts every INT8 logit of a row by its projection on
 * it — harmless within the INT8 chunks, but a bias against the float32 sink logits and in the lse (measured: INT8 cache
 * 0.9–1.1% → 0.5–0.8% relative L2, lse error 0.04 → 0.008).
 *
 * with m' = max(m, rowmax x), p = exp2(x − m') (SAS or exact by variant), α = exp2(m − m'), O ← α·O, l ← α·l + Σ p
 * (l from the unquantized p, as turboAttention does). Folding V's scale (one per page, or one per token) into p
 * before quantizing it keeps P·V a single INT8 product per chunk. Under SAS a chunk whose every visible score is more
 * than T below its row's running max contributes exactly 0 and is skipped.
 *
 * Returns out `[batch, heads, queryTokens, headDim]` and lse `[batch, heads, queryTokens]` (natural log of
 * Σ exp(σ·q·k); −Infinity and a zero output for a row that sees no key).
 */
export function decodePagedCpu(q: Float32Array, storage: KVCacheStorage, params: DecodeParams): AttentionState {
  const { batch, kvHeads, headDim, pageSize, sinkTokens } = storage.config;
  const { heads, queryTokens, variant } = params;
  const groupSize = heads / kvHeads;
  const rows = groupSize * queryTokens;
  const chunkMax = Math.max(pageSize, sinkTokens);
  const smScaleLog2 = Math.fround(params.scale * LOG2E);
  const sas = variant.exponent === 'sas';
  const threshold = sas ? variant.sasThreshold : Infinity;
  const exp2 = sas ? (x: number) => sasExp2(x, threshold) : (x: number) => Math.fround(2 ** x);
  const skipSparse = sas && variant.skipSparseTiles;
  const signs = storage.rotationSigns;

  const out = new Float32Array(batch * heads * queryTokens * headDim); // [batch, heads, queryTokens, headDim]
  const lse = new Float32Array(batch * heads * queryTokens).fill(-Infinity); // [batch, heads, queryTokens]
  const qRot = new Float64Array(rows * headDim); // (rows, headDim) rotated q
  const qInt8 = new Int8Array(rows * headDim); // (rows, headDim)
  const qScale = new Float32Array(rows); // (rows)
  const lastKey = new Int32Array(rows); // (rows) last visible key
  const qRoundingShift = new Float32Array(rows); // (rows) (q − q̂·s_q)·mean(K)·σ·log2 e, base 2
  const kPage = new Int8Array(pageSize * headDim); // (pageSize, headDim)
  const vPage = new Int8Array(pageSize * headDim); // (headDim, pageSize)
  const scores = new Float32Array(rows * chunkMax); // (rows, chunk): x, then p in place
  const pScaled = new Float64Array(chunkMax); // (chunk) p·s_v of one row
  const pCodes = new Int8Array(chunkMax); // (chunk) P̂ of one row
  const rowMax = new Float32Array(rows); // m, base 2
  const rowSum = new Float32Array(rows); // l
  const acc = new Float32Array(rows * headDim); // (rows, headDim) O
  const splitOut = new Float32Array(rows * headDim);
  const splitLse = new Float32Array(rows);
  const mergedOut = new Float32Array(rows * headDim);
  const mergedLse = new Float32Array(rows);
  const row = new Float64Array(headDim);

  /** Online-softmax update of a chunk of n keys whose logits are in scores; false when SAS empties the chunk. */
  const softmaxChunk = (n: number): boolean => {
    if (skipSparse) {
      let kept = false;
      for (let r = 0; r < rows && !kept; r++) {
        for (let t = 0; t < n; t++) {
          const x = scores[r * n + t];
          if (x > -Infinity && x >= rowMax[r] - threshold) {
            kept = true;
            break;
          }
        }
      }
      if (!kept) return false;
    }
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      let max = -Infinity;
      for (let t = 0; t < n; t++) if (scores[base + t] > max) max = scores[base + t];
      const mOld = rowMax[r];
      const mNew = max > mOld ? max : mOld;
      if (mNew === -Infinity) {
        scores.fill(0, base, base + n); // the row sees no key yet
        continue;
      }
      const alpha = mOld === mNew ? 1 : exp2(mOld - mNew);
      rowMax[r] = mNew;
      let sum = 0;
      for (let t = 0; t < n; t++) {
        const p = exp2(scores[base + t] - mNew);
        scores[base + t] = p;
        sum += p;
      }
      rowSum[r] = Math.fround(alpha * rowSum[r] + sum);
      if (alpha !== 1) for (let d = r * headDim; d < (r + 1) * headDim; d++) acc[d] *= alpha;
    }
    return true;
  };

  /** O += P̂·V̂ for a chunk of n INT8 value rows: v̂(t, d) at vCodes[vOffset + …] by `vMajor`, scale s_v(t). */
  const pvInt8 = (n: number, vCodes: Int8Array, vOffset: number, vMajor: VMajor, vStride: number, vScales: Float32Array, vScaleOffset: number, perToken: boolean): void => {
    for (let r = 0; r < rows; r++) {
      let max = 0;
      for (let t = 0; t < n; t++) {
        const p = scores[r * n + t] * vScales[vScaleOffset + (perToken ? t : 0)];
        pScaled[t] = p;
        if (p > max) max = p;
      }
      if (max === 0) continue;
      const toCode = 127 / max;
      for (let t = 0; t < n; t++) pCodes[t] = roundHalfEven(pScaled[t] * toCode);
      const descale = max / 127;
      const accRow = r * headDim;
      if (vMajor === 'channel') {
        for (let d = 0; d < headDim; d++) {
          const vRow = vOffset + d * vStride;
          let dot = 0;
          for (let t = 0; t < n; t++) dot += pCodes[t] * vCodes[vRow + t];
          acc[accRow + d] += dot * descale;
        }
      } else {
        for (let d = 0; d < headDim; d++) {
          let dot = 0;
          for (let t = 0; t < n; t++) dot += pCodes[t] * vCodes[vOffset + t * vStride + d];
          acc[accRow + d] += dot * descale;
        }
      }
    }
  };

  /** x = (q̂·k̂)·s_q·s_k·σ·log2 e for n INT8 key rows (token-major), masked past each row's last key. */
  const logitsInt8 = (n: number, firstKey: number, kCodes: Int8Array, kOffset: number, kScales: Float32Array, kScaleOffset: number, perToken: boolean): void => {
    for (let r = 0; r < rows; r++) {
      const qRow = r * headDim;
      for (let t = 0; t < n; t++) {
        if (firstKey + t > lastKey[r]) {
          scores[r * n + t] = -Infinity;
          continue;
        }
        const kRow = kOffset + t * headDim;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += qInt8[qRow + d] * kCodes[kRow + d];
        const descale = Math.fround(qScale[r] * kScales[kScaleOffset + (perToken ? t : 0)] * smScaleLog2);
        scores[r * n + t] = Math.fround(dot * descale + qRoundingShift[r]);
      }
    }
  };

  const pagePool = (tensor: 'k' | 'v', group: number, page: number): { pool: PagePoolStorage; slot: number } => {
    const entry = group * storage.maxPages + page;
    const pool = storage[tensor].pools[storage[tensor].pageBits[entry] as 8 | 4 | 2];
    if (!pool) throw new Error(`turboDecode: page ${page} of group ${group} has no pool`); // unreachable for a valid cache
    return { pool, slot: storage[tensor].pageTable[entry] };
  };

  for (let b = 0; b < batch; b++) {
    const length = storage.lengths[b];
    if (length === 0) continue; // an empty sequence: zero output, lse −Infinity
    const placement = tokenPlacement(length, sinkTokens, pageSize);
    const splits = splitKVSchedule(placement, params.pagesPerSplit);
    for (let g = 0; g < kvHeads; g++) {
      const group = b * kvHeads + g;
      for (let r = 0; r < rows; r++) {
        const h = g * groupSize + Math.floor(r / queryTokens);
        const i = r % queryTokens;
        const qStart = ((b * heads + h) * queryTokens + i) * headDim;
        for (let d = 0; d < headDim; d++) row[d] = q[qStart + d];
        if (signs) hadamardRotate(row, signs);
        qRot.set(row, r * headDim);
        qScale[r] = quantizeRowInt8(row, headDim, qInt8, r * headDim);
        lastKey[r] = length - queryTokens + i;
        let shift = 0;
        for (let d = 0; d < headDim; d++) shift += (row[d] - qInt8[r * headDim + d] * qScale[r]) * storage.kMean[group * headDim + d];
        qRoundingShift[r] = Math.fround(shift * smScaleLog2);
      }
      mergedOut.fill(0);
      mergedLse.fill(-Infinity);

      for (const split of splits) {
        rowMax.fill(-Infinity);
        rowSum.fill(0);
        acc.fill(0);

        if (split.sink && placement.sinkTokens > 0) {
          // Sink: float32 K and V, unquantized q.
          const n = placement.sinkTokens;
          const sinkBase = group * sinkTokens * headDim;
          for (let r = 0; r < rows; r++) {
            for (let t = 0; t < n; t++) {
              if (t > lastKey[r]) {
                scores[r * n + t] = -Infinity;
                continue;
              }
              let dot = 0;
              for (let d = 0; d < headDim; d++) dot += qRot[r * headDim + d] * storage.k.sink[sinkBase + t * headDim + d];
              scores[r * n + t] = Math.fround(Math.fround(dot) * smScaleLog2);
            }
          }
          if (softmaxChunk(n)) {
            for (let r = 0; r < rows; r++) {
              for (let t = 0; t < n; t++) {
                const p = scores[r * n + t];
                if (p === 0) continue;
                const vRow = sinkBase + t * headDim;
                for (let d = 0; d < headDim; d++) acc[r * headDim + d] += p * storage.v.sink[vRow + d];
              }
            }
          }
        }

        for (let page = split.firstPage; page < split.firstPage + split.pageCount; page++) {
          const firstKey = sinkTokens + page * pageSize;
          const k = pagePool('k', group, page);
          decodePageInt8(k.pool, k.slot, pageSize, headDim, kPage);
          const kPerToken = k.pool.scalesPerPage > 1;
          logitsInt8(pageSize, firstKey, kPage, 0, k.pool.scales, k.slot * k.pool.scalesPerPage, kPerToken);
          if (!softmaxChunk(pageSize)) continue;
          const v = pagePool('v', group, page);
          decodePageInt8(v.pool, v.slot, headDim, pageSize, vPage);
          pvInt8(pageSize, vPage, 0, 'channel', pageSize, v.pool.scales, v.slot * v.pool.scalesPerPage, v.pool.scalesPerPage > 1);
        }

        if (split.buffer && placement.bufferTokens > 0) {
          const n = placement.bufferTokens;
          const firstKey = sinkTokens + placement.pages * pageSize;
          logitsInt8(n, firstKey, storage.k.bufferCodes, group * pageSize * headDim, storage.k.bufferScales, group * pageSize, true);
          if (softmaxChunk(n)) {
            pvInt8(n, storage.v.bufferCodes, group * pageSize * headDim, 'token', headDim, storage.v.bufferScales, group * pageSize, true);
          }
        }

        // The split's partial state: O / l and lse = (m + log2 l)·ln 2; merged into the running state.
        for (let r = 0; r < rows; r++) {
          const l = rowSum[r];
          splitLse[r] = l > 0 ? Math.fround((rowMax[r] + Math.log2(l)) * Math.LN2) : -Infinity;
          const inverse = l > 0 ? 1 / l : 0;
          for (let d = r * headDim; d < (r + 1) * headDim; d++) splitOut[d] = acc[d] * inverse;
        }
        mergeStateRows(mergedOut, mergedLse, splitOut, splitLse, 0, rows, headDim);
      }

      for (let r = 0; r < rows; r++) {
        const h = g * groupSize + Math.floor(r / queryTokens);
        const i = r % queryTokens;
        const rowIndex = (b * heads + h) * queryTokens + i;
        lse[rowIndex] = mergedLse[r];
        for (let d = 0; d < headDim; d++) row[d] = mergedOut[r * headDim + d];
        if (signs) hadamardUnrotate(row, signs);
        for (let d = 0; d < headDim; d++) out[rowIndex * headDim + d] = row[d];
      }
    }
  }
  return { out, lse };
}
