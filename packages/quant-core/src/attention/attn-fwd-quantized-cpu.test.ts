import { describe, expect, it } from 'vitest';
import { E4M3_VALUES, roundE4m3 } from '../fp8.js';
import { createRng } from '../rng.js';
import { type AttentionShape, LOG2E, type ResolvedShape, lastVisibleKey, resolveShape } from '../shape.js';
import { smoothChannels } from '../smoothing.js';
import { expectCode } from '../test-helpers.js';
import { assertInt32Accumulation, attnFwdQuantizedCpu } from './attn-fwd-quantized-cpu.js';
import { type QuantizedAttentionOperands, quantizeRowsInt8, quantizeVFp8Channels, quantizeVInt8Tiles, roundVFp16 } from './operands.js';
import { FP8_P_SCALE } from './pv-fp8.js';
import type { AttentionTileParams, AttentionVariant, CpuAttentionVariant, PvPrecision } from './variant.js';

/** INT-FlashAttention's defaults in `@qattn/flash-int8` (exact exp2, unsigned P codes). */
const INT_FA: AttentionVariant = { exponent: 'exp2', sasThreshold: 0, skipSparseTiles: false, pScale: 'rowmax', pCodeMax: 255, pv: 'int8' };
/** Its "half" variant: INT8 Q·Kᵀ only. */
const INT_FA_HALF: AttentionVariant = { ...INT_FA, pv: 'fp16' };
/** Its FP8 P·V (CPU only): e4m3 P and per-channel e4m3 V. */
const INT_FA_FP8: CpuAttentionVariant = { ...INT_FA, pv: 'fp8' };
/** FlashQ + SAS's defaults in `@qattn/turbo-attn`. */
const FLASHQ_SAS: AttentionVariant = { exponent: 'sas', sasThreshold: 14, skipSparseTiles: true, pScale: 'rowmax', pCodeMax: 127, pv: 'int8' };

/** softmax(q·kᵀ·scale)·v in float64: GQA (query head h reads kv head ⌊h / groupSize⌋), bottom-right causal mask. */
function attention64(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, shape: ResolvedShape, causal: boolean, scale: number): Float64Array {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim, groupSize } = shape;
  const out = new Float64Array(shape.qElements);
  const logits = new Float64Array(seqKV);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const qBase = (b * heads + h) * seqQ * headDim;
      const kvBase = (b * kvHeads + Math.floor(h / groupSize)) * seqKV * headDim;
      for (let i = 0; i < seqQ; i++) {
        const visible = lastVisibleKey(i, seqQ, seqKV, causal) + 1;
        let max = -Infinity;
        for (let j = 0; j < visible; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[qBase + i * headDim + d] * k[kvBase + j * headDim + d];
          logits[j] = dot * scale;
          max = Math.max(max, logits[j]);
        }
        let sum = 0;
        for (let j = 0; j < visible; j++) sum += logits[j] = Math.exp(logits[j] - max);
        for (let j = 0; j < visible; j++) {
          for (let d = 0; d < headDim; d++) out[qBase + i * headDim + d] += (logits[j] / sum) * v[kvBase + j * headDim + d];
        }
      }
    }
  }
  return out;
}

function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let error = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    error += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(error / norm);
}

/**
 * Attention-like inputs: Gaussian q (mean `qMean`, × `sharpness`), k with two outlier channels (offsets +6 and −4,
 * which K smoothing removes), heavy-tailed v (a Gaussian over a uniform), and key 0 of every kv head offset by +3 on
 * every channel: with `qMean` > 0 an attention sink.
 */
function generate(shape: ResolvedShape, seed: number, sharpness = 1, qMean = 0) {
  const rng = createRng(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const { headDim, seqKV } = shape;
  const q = Float32Array.from({ length: shape.qElements }, () => (gaussian() + qMean) * sharpness);
  const k = Float32Array.from({ length: shape.kvElements }, (_, i) => gaussian() + (i % headDim === 3 ? 6 : i % headDim === 7 ? -4 : 0));
  const v = Float32Array.from({ length: shape.kvElements }, () => gaussian() / Math.max(0.1, rng()));
  for (let group = 0; group < shape.batch * shape.kvHeads; group++) {
    for (let d = 0; d < headDim; d++) k[group * seqKV * headDim + d] += 3;
  }
  return { q, k, v };
}

/** The operands as the kernel packages build them: K smoothed, Q/K per token, V per (key tile, channel) or fp16. */
function operandsOf(q: Float32Array, k: Float32Array, v: Float32Array, shape: ResolvedShape, pv: PvPrecision, blockN: number, smoothV = false) {
  const qView = { groups: shape.batch * shape.heads, tokens: shape.seqQ, channels: shape.headDim };
  const kvView = { groups: shape.batch * shape.kvHeads, tokens: shape.seqKV, channels: shape.headDim };
  const vSmoothed = smoothV ? smoothChannels(v, kvView) : null;
  const vSource = vSmoothed ? vSmoothed.smoothed : v;
  const operands: QuantizedAttentionOperands = {
    q: quantizeRowsInt8(q, qView, { kind: 'token' }),
    k: quantizeRowsInt8(smoothChannels(k, kvView).smoothed, kvView, { kind: 'token' }),
    v:
      pv === 'int8'
        ? quantizeVInt8Tiles(vSource, kvView, { kind: 'blockChannel', blockSize: blockN }, blockN)
        : pv === 'fp16'
          ? roundVFp16(vSource)
          : quantizeVFp8Channels(vSource, kvView),
    vMeans: vSmoothed ? vSmoothed.means : null,
  };
  return operands;
}

/**
 * The error the operands alone cause: float64 attention on the dequantized Q, K and V (P exact). What the loop may add
 * on top is P's rounding and fp32 arithmetic.
 */
function operandError(operands: QuantizedAttentionOperands, reference: Float64Array, shape: ResolvedShape, causal: boolean, scale: number, blockN: number): number {
  const { headDim, seqKV } = shape;
  const rows = (x: QuantizedAttentionOperands['q']) => Float64Array.from(x.codes, (code, i) => code * x.rowScales[Math.floor(i / headDim)]);
  const keyTiles = Math.ceil(seqKV / blockN);
  const fp8 = operands.v.precision === 'fp8' ? operands.v : null;
  const v = fp8
    ? Float64Array.from(fp8.codes, (code, i) => E4M3_VALUES[code] * fp8.scales[Math.floor(i / (seqKV * headDim)) * headDim + (i % headDim)])
    : operands.v.precision === 'fp16'
      ? operands.v.values
      : Float64Array.from(operands.v.codes, (code, i) => {
          const row = Math.floor(i / headDim);
          const group = Math.floor(row / seqKV);
          const tile = Math.floor((row % seqKV) / blockN);
          return code * (operands.v as { scales: Float32Array }).scales[(group * keyTiles + tile) * headDim + (i % headDim)];
        });
  return relL2(attention64(rows(operands.q), rows(operands.k), v, shape, causal, scale), reference);
}

const SHAPES: Array<[string, AttentionShape, boolean]> = [
  ['hd64', { batch: 1, heads: 2, seqQ: 96, seqKV: 160, headDim: 64 }, false],
  ['hd64 causal, seqQ > seqKV', { batch: 1, heads: 2, seqQ: 150, seqKV: 100, headDim: 64 }, true],
  ['GQA 3:1 hd32 causal, batch 2, ragged tiles', { batch: 2, heads: 6, kvHeads: 2, seqQ: 45, seqKV: 77, headDim: 32 }, true],
  ['hd128, one query', { batch: 1, heads: 2, seqQ: 1, seqKV: 130, headDim: 128 }, false],
];

/**
 * How much each variant may add to the operands' own error (relative L2 against float64): what rounding P and fp32
 * arithmetic cost, and an absolute bound. Measured on these cases: P codes in [0, 255] 1.01–1.11×, fp16 P
 * 1.000–1.002×, P codes in [0, 127] with SAS 1.02–1.45× (largest with 64-key tiles and one query row, where P's
 * rounding averages least), e4m3 P 1.05–1.12×. The e4m3 V per channel is the larger part of fp8's error: its operands
 * alone measure 2.0–2.9% on this heavy-tailed V (INT8 per key tile and channel: 1.0–1.7%), the whole 2.3–3.05%.
 */
const LOOP_ERROR_BOUNDS = new Map<CpuAttentionVariant, { factor: number; bound: number }>([
  [INT_FA, { factor: 1.25, bound: 0.03 }],
  [INT_FA_HALF, { factor: 1.02, bound: 0.03 }],
  [INT_FA_FP8, { factor: 1.2, bound: 0.035 }],
  [FLASHQ_SAS, { factor: 1.6, bound: 0.03 }],
]);

describe('attnFwdQuantizedCpu against float64 attention', () => {
  for (const [variant, { factor, bound }] of LOOP_ERROR_BOUNDS) {
    describe(`${variant.exponent}, pv ${variant.pv}, P codes ≤ ${variant.pCodeMax}`, () => {
      it.each(SHAPES)(`%s: error ≤ ${factor}× the operands' own, and < ${Math.round(1000 * bound) / 10}%`, (_name, given, causal) => {
        const shape = resolveShape(given);
        const scale = 1 / Math.sqrt(shape.headDim);
        const { q, k, v } = generate(shape, shape.seqQ + shape.seqKV, 2);
        const reference = attention64(q, k, v, shape, causal, scale);
        for (const [blockM, blockN] of [[64, 64], [16, 32], [7, 5]]) {
          const operands = operandsOf(q, k, v, shape, variant.pv, blockN);
          const params: AttentionTileParams = { scale, causal, blockM, blockN };
          const { out } = attnFwdQuantizedCpu(operands, shape, params, variant);
          const error = relL2(out, reference);
          const floor = operandError(operands, reference, shape, causal, scale, blockN);
          expect(error, JSON.stringify({ blockM, blockN, floor })).toBeLessThanOrEqual(factor * floor);
          expect(error).toBeLessThan(bound);
        }
      });
    });
  }

  it('rows that see no key are exactly 0; V smoothing adds V’s mean back and reproduces a constant V exactly', () => {
    const shape = resolveShape({ batch: 1, heads: 2, seqQ: 40, seqKV: 16, headDim: 16 });
    const { q, k } = generate(shape, 3);
    const row = Float32Array.from({ length: 16 }, (_, d) => Math.fround(0.37 * d - 2.1));
    const v = Float32Array.from({ length: shape.kvElements }, (_, i) => row[i % 16]);
    for (const variant of [INT_FA, INT_FA_HALF, INT_FA_FP8, FLASHQ_SAS]) {
      const operands = operandsOf(q, k, v, shape, variant.pv, 8, true);
      const { out } = attnFwdQuantizedCpu(operands, shape, { scale: 0.25, causal: true, blockM: 16, blockN: 8 }, variant);
      for (let h = 0; h < 2; h++) {
        for (let i = 0; i < 40; i++) {
          for (let d = 0; d < 16; d++) expect(out[(h * 40 + i) * 16 + d]).toBe(i < 24 ? 0 : row[d]); // queries 0..23 see no key
        }
      }
    }
  });
});

describe("pv 'fp8'", () => {
  it('computes exactly the documented arithmetic (pv-fp8.ts) when one key tile holds every key', () => {
    const shape = resolveShape({ batch: 1, heads: 2, kvHeads: 1, seqQ: 24, seqKV: 40, headDim: 16 });
    const { headDim, seqQ, seqKV } = shape;
    const { q, k, v } = generate(shape, 11, 2, 0.3);
    const scale = 1 / 4;
    const operands = operandsOf(q, k, v, shape, 'fp8', seqKV);
    const { out } = attnFwdQuantizedCpu(operands, shape, { scale, causal: true, blockM: 8, blockN: seqKV }, INT_FA_FP8);
    const vFp8 = operands.v as Extract<QuantizedAttentionOperands['v'], { precision: 'fp8' }>;
    const p = new Float32Array(seqKV);
    const o = new Float32Array(headDim);
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < seqQ; i++) {
        const row = h * seqQ + i;
        const visible = lastVisibleKey(i, seqQ, seqKV, true) + 1;
        let max = -Infinity;
        for (let j = 0; j < visible; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += operands.q.codes[row * headDim + d] * operands.k.codes[j * headDim + d];
          p[j] = dot * (operands.q.rowScales[row] * (scale * LOG2E)) * operands.k.rowScales[j];
          max = Math.max(max, p[j]);
        }
        let l = 0;
        for (let j = 0; j < visible; j++) {
          const probability = Math.exp((p[j] - max) * Math.LN2);
          l += probability;
          p[j] = probability;
        }
        o.fill(0);
        for (let j = 0; j < visible; j++) {
          const p8 = roundE4m3(Math.fround(p[j] * FP8_P_SCALE));
          for (let d = 0; d < headDim; d++) o[d] += p8 * E4M3_VALUES[vFp8.codes[j * headDim + d]];
        }
        const inverse = 1 / Math.fround(l);
        for (let d = 0; d < headDim; d++) {
          const expected = Math.fround(Math.fround(o[d] * inverse) * Math.fround(vFp8.scales[d] / FP8_P_SCALE));
          expect(out[row * headDim + d]).toBe(expected);
        }
      }
    }
  });
});

describe('skipSparseTiles', () => {
  it('changes nothing but the stats: tiles SAS makes all-zero are skipped, the output is identical bit for bit', () => {
    const shape = resolveShape({ batch: 1, heads: 2, kvHeads: 1, seqQ: 128, seqKV: 256, headDim: 64 });
    const { q, k, v } = generate(shape, 5, 3, 0.3); // a strong sink: most tiles lie far below it
    const params = { scale: 1 / 8, causal: true, blockM: 32, blockN: 16 };
    const operands = operandsOf(q, k, v, shape, 'int8', params.blockN);
    const sparse = { ...FLASHQ_SAS, sasThreshold: 4 };
    const skipping = attnFwdQuantizedCpu(operands, shape, params, sparse);
    const computing = attnFwdQuantizedCpu(operands, shape, params, { ...sparse, skipSparseTiles: false });
    expect(skipping.stats.skippedSparse).toBeGreaterThan(0);
    expect(computing.stats).toEqual({ ...skipping.stats, skippedSparse: 0 });
    expect(skipping.out).toEqual(computing.out);
    // 2 heads × 4 query tiles × 16 key tiles; query tile t sees keys ≤ 32t + 159, i.e. key tiles 0..2t + 9.
    expect(skipping.stats.tiles).toBe(2 * 4 * 16);
    expect(skipping.stats.skippedCausal).toBe(2 * (6 + 4 + 2 + 0));
  });

  it('never skips under exact exp2, which drops no score', () => {
    const shape = resolveShape({ batch: 1, heads: 1, seqQ: 64, seqKV: 256, headDim: 32 });
    const { q, k, v } = generate(shape, 6, 3);
    const operands = operandsOf(q, k, v, shape, 'int8', 16);
    const { stats } = attnFwdQuantizedCpu(operands, shape, { scale: 1, causal: false, blockM: 16, blockN: 16 }, { ...INT_FA, skipSparseTiles: true });
    expect(stats).toEqual({ tiles: 4 * 16, skippedCausal: 0, skippedSparse: 0 });
  });
});

describe('bad input', () => {
  const shape = resolveShape({ batch: 1, heads: 2, seqQ: 8, seqKV: 8, headDim: 16 });
  const { q, k, v } = generate(shape, 7);
  const params = { scale: 0.25, causal: false, blockM: 4, blockN: 4 };
  const int8 = operandsOf(q, k, v, shape, 'int8', 4);

  it('refuses operands that do not match the shape (ERR_QATTN_SHAPE)', () => {
    expectCode(() => attnFwdQuantizedCpu(int8, { ...shape, seqKV: 9 }, params, INT_FA), 'ERR_QATTN_SHAPE');
    expectCode(() => attnFwdQuantizedCpu({ ...int8, vMeans: new Float32Array(3) }, shape, params, INT_FA), 'ERR_QATTN_SHAPE');
  });

  it('refuses fp8 V scales that are not one per (batch, kvHead, channel) (ERR_QATTN_SHAPE)', () => {
    const fp8 = operandsOf(q, k, v, shape, 'fp8', 4);
    expectCode(() => attnFwdQuantizedCpu({ ...fp8, v: { ...fp8.v, scales: new Float32Array(2 * 16 * 2) } as typeof fp8.v }, shape, params, INT_FA_FP8), 'ERR_QATTN_SHAPE');
  });

  it('refuses a V of another precision or key tile than the variant and params (ERR_QATTN_OPTION)', () => {
    expectCode(() => attnFwdQuantizedCpu(int8, shape, params, INT_FA_HALF), 'ERR_QATTN_OPTION');
    expectCode(() => attnFwdQuantizedCpu(int8, shape, params, INT_FA_FP8), 'ERR_QATTN_OPTION');
    expectCode(() => attnFwdQuantizedCpu(operandsOf(q, k, v, shape, 'fp8', 4), shape, params, INT_FA), 'ERR_QATTN_OPTION');
    expectCode(() => attnFwdQuantizedCpu(int8, shape, { ...params, blockN: 8 }, INT_FA), 'ERR_QATTN_OPTION');
  });

  it('refuses a malformed variant (ERR_QATTN_OPTION)', () => {
    for (const bad of [{ exponent: 'exp' }, { exponent: 'sas', sasThreshold: 30 }, { pCodeMax: 128 }, { pScale: 'max' }, { pv: 'int4' }]) {
      expectCode(() => attnFwdQuantizedCpu(int8, shape, params, { ...INT_FA, ...bad } as unknown as CpuAttentionVariant), 'ERR_QATTN_OPTION');
    }
  });

  it('refuses sizes whose INT8 sums overflow INT32 (ERR_QATTN_UNSUPPORTED)', () => {
    expect(() => assertInt32Accumulation('test', 133_144, 1024, 255)).not.toThrow();
    expectCode(() => assertInt32Accumulation('test', 133_145, 64, 127), 'ERR_QATTN_UNSUPPORTED');
    expectCode(() => assertInt32Accumulation('test', 128, 66_312, 255), 'ERR_QATTN_UNSUPPORTED');
  });

  it('does not modify its operands', () => {
    const copies = structuredClone(int8);
    attnFwdQuantizedCpu(int8, shape, { ...params, causal: true }, INT_FA);
    expect(int8).toEqual(copies);
  });
});
