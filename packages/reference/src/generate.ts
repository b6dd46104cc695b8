import { type AttentionShape, QattnError, resolveShape } from '@qattn/quant-core';
import { createNormal, createRng, createStudentT } from './rng.js';

/** The data distributions accuracy is judged on. */
export type DataKind =
  /** LLM-like activations (docs/ALGORITHMS.md §4): outlier K channels, an attention sink at key 0, Student-t V. */
  | 'llm'
  /** U[0, 1) for q, k and v: the distribution of the INT-FlashAttention paper's error table. */
  | 'uniform'
  /** N(0, 1) for q, k and v. */
  | 'normal';

/** Options of {@link generateInputs}. */
export interface GenerateOptions {
  kind: DataKind;
  /** Seed of the deterministic generator. Default 1. */
  seed?: number;
  /** Multiplies q, making the softmax sharper (3 is the "sharp" case of the accuracy bars). Default 1. */
  sharpness?: number;
}

/** q, k and v of one attention call, row-major Float32Arrays in the layout of {@link AttentionShape}. */
export interface AttentionInputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

/**
 * Generates inputs of the given shape. The `'llm'` kind reproduces what makes attention hard to quantize in real
 * models, per kv head:
 * - K: per-channel scales in [0.5, 1.5] and 4 outlier channels with offsets of ±6…16 (they blow up a per-token K
 *   scale unless K is smoothed);
 * - an attention sink: every query carries a shared direction u (|u| = 1) with weight √D/2 and key 0 carries 12·u,
 *   so key 0 gets a logit about 6 above the rest and takes about half of the probability mass at 256 keys;
 * - V: Student-t with ν = 4 (heavy tails: a few values far larger than the rest);
 * - q: per-channel scales in [0.5, 1.5], times `sharpness`.
 */
export function generateInputs(shape: AttentionShape, options: GenerateOptions): AttentionInputs {
  const s = resolveShape(shape);
  const { kind, seed = 1, sharpness = 1 } = options;
  if (kind !== 'llm' && kind !== 'uniform' && kind !== 'normal') {
    throw new QattnError('ERR_QATTN_OPTION', `generateInputs: kind must be 'llm', 'uniform' or 'normal', got ${String(kind)}`);
  }
  if (!Number.isFinite(sharpness) || sharpness <= 0) {
    throw new QattnError('ERR_QATTN_OPTION', `generateInputs: sharpness must be a positive number, got ${sharpness}`);
  }
  const uniform = createRng(seed);
  const normal = createNormal(uniform);
  const q = new Float32Array(s.qElements);
  const k = new Float32Array(s.kvElements);
  const v = new Float32Array(s.kvElements);
  if (kind === 'uniform') {
    for (let i = 0; i < q.length; i++) q[i] = uniform() * sharpness;
    for (let i = 0; i < k.length; i++) k[i] = uniform();
    for (let i = 0; i < v.length; i++) v[i] = uniform();
    return { q, k, v };
  }
  if (kind === 'normal') {
    for (let i = 0; i < q.length; i++) q[i] = normal() * sharpness;
    for (let i = 0; i < k.length; i++) k[i] = normal();
    for (let i = 0; i < v.length; i++) v[i] = normal();
    return { q, k, v };
  }
  fillLlmLike(s, q, k, v, uniform, normal, sharpness);
  return { q, k, v };
}

const OUTLIER_CHANNELS = 4;
const SINK_KEY_WEIGHT = 12;
const STUDENT_T_NU = 4;

function fillLlmLike(
  s: ReturnType<typeof resolveShape>,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  uniform: () => number,
  normal: () => number,
  sharpness: number,
): void {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim, groupSize } = s;
  const studentT = createStudentT(normal, STUDENT_T_NU);
  const sinkDir = new Float64Array(headDim); // [headDim] unit vector u of one kv head
  const kScale = new Float64Array(headDim);
  const kOffset = new Float64Array(headDim);
  const qScale = new Float64Array(headDim);
  const queryWeight = Math.sqrt(headDim) / 2;
  for (let b = 0; b < batch; b++) {
    for (let kvh = 0; kvh < kvHeads; kvh++) {
      let norm = 0;
      for (let d = 0; d < headDim; d++) {
        sinkDir[d] = normal();
        norm += sinkDir[d] * sinkDir[d];
        kScale[d] = 0.5 + uniform();
        kOffset[d] = 0;
      }
      norm = Math.sqrt(norm);
      for (let d = 0; d < headDim; d++) sinkDir[d] /= norm;
      for (let o = 0; o < Math.min(OUTLIER_CHANNELS, headDim); o++) {
        const channel = Math.floor(uniform() * headDim);
        kOffset[channel] = (uniform() < 0.5 ? -1 : 1) * (6 + 10 * uniform());
      }
      const kvBase = (b * kvHeads + kvh) * seqKV * headDim;
      for (let j = 0; j < seqKV; j++) {
        const row = kvBase + j * headDim;
        const sink = j === 0 ? SINK_KEY_WEIGHT : 0;
        for (let d = 0; d < headDim; d++) {
          k[row + d] = normal() * kScale[d] + kOffset[d] + sink * sinkDir[d];
          v[row + d] = studentT();
        }
      }
      for (let g = 0; g < groupSize; g++) {
        const h = kvh * groupSize + g;
        for (let d = 0; d < headDim; d++) qScale[d] = 0.5 + uniform();
        const qBase = (b * heads + h) * seqQ * headDim;
        for (let i = 0; i < seqQ; i++) {
          const row = qBase + i * headDim;
          for (let d = 0; d < headDim; d++) {
            q[row + d] = (normal() * qScale[d] + queryWeight * sinkDir[d]) * sharpness;
          }
        }
      }
    }
  }
}
