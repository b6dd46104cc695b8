// The q, k and v of a fuzz case: @qattn/reference's generators, then the case's edge values, then (for shared cases)
// a copy into shared memory.
import { LOG2E, MAX_BASE2_LOGIT, createRng, maxAbs } from '@qattn/quant-core';
import { type AttentionInputs, generateInputs } from '@qattn/reference';
import type { EdgeKind, FuzzCase } from './cases.js';

/** Smallest positive normal float32 (2^−126): results below it may be flushed to zero (CUDA ftz, WGSL). */
export const FLOAT32_MIN_NORMAL = 2 ** -126;

/**
 * A copy of `values` in a Float32Array over a SharedArrayBuffer, one element into it, so that both the shared buffer
 * and a non-zero byteOffset are exercised.
 */
export function sharedCopy(values: Float32Array): Float32Array {
  const view = new Float32Array(new SharedArrayBuffer((values.length + 2) * 4), 4, values.length);
  view.set(values);
  return view;
}

function scaleBy(x: Float32Array, factor: number): void {
  for (let i = 0; i < x.length; i++) x[i] *= factor;
}

/** A random subnormal float32 of random sign: 1 … 2^23 − 1 units of 2^−149. */
function subnormal(rng: () => number): number {
  const units = 1 + Math.floor(rng() * (2 ** 23 - 1));
  return (rng() < 0.5 ? -1 : 1) * units * 2 ** -149;
}

/**
 * Calls `each(i)` for about 1 in 32 elements of `x`, drawn at random among its 1/16 smallest by magnitude. Subnormals
 * and −0 then appear in every row (what `denormal-mix` and `neg-zero` test) while the data stay those the accuracy
 * bars were set on: replacing random elements instead zeroes real signal — at head dim 32, 1 in 32 random elements
 * moved flash-int8 from 1.7% to 2.9% relative L2 (fuzz seed 12 case 26), a different data class, not a bug.
 */
function forSmallElements(x: Float32Array, rng: () => number, each: (i: number) => void): void {
  const magnitudes = Float32Array.from(x, Math.abs).sort();
  const below = magnitudes[Math.floor(magnitudes.length / 16)];
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]) < below && rng() < 0.5) each(i);
}

/** Calls `each(rowStart, rowIndex, headStart)` for every key row of every (batch, kv head). */
function forEachKeyRow(c: FuzzCase, each: (row: number, j: number, head: number) => void): void {
  const { batch, kvHeads, seqKV, headDim } = c.shape;
  for (let g = 0; g < batch * kvHeads; g++) {
    const head = g * seqKV * headDim;
    for (let j = 0; j < seqKV; j++) each(head + j * headDim, j, head);
  }
}

/**
 * Applies an edge kind in place. Magnitudes: 1e30 keeps q·k finite in float32 for every head dim here, but its logits
 * lie far beyond quant-core's MAX_BASE2_LOGIT, so every backend must refuse it; `logit-limit` scales q so that the
 * logit bound the backends check (headDim·max|q|·max|k|·scale·log2e, default scale) is half that limit — the largest
 * logits a backend must compute; 1e38 is within 3.4e38 of float32's maximum, 1e−39 is subnormal.
 */
function applyEdge(edge: EdgeKind, c: FuzzCase, { q, k, v }: AttentionInputs): void {
  const rng = createRng((c.dataSeed ^ 0x5bd1e995) >>> 0);
  const { headDim } = c.shape;
  switch (edge) {
    case 'q-huge':
      return scaleBy(q, 1e30);
    case 'k-huge':
      return scaleBy(k, 1e30);
    case 'logit-limit': {
      const bound = headDim * maxAbs(q) * maxAbs(k) * LOG2E / Math.sqrt(headDim);
      return scaleBy(q, MAX_BASE2_LOGIT / 2 / bound);
    }
    case 'qk-reciprocal':
      // The logits stay the data's: only the quantization scales see extreme magnitudes.
      scaleBy(q, 1e30);
      return scaleBy(k, 1e-30);
    case 'v-huge':
      return scaleBy(v, 1e30);
    case 'v-max':
      return scaleBy(v, 1e38 / maxAbs(v));
    case 'identical-keys': {
      // Every key of a kv head equal to one of them: a uniform softmax, and K smoothing leaves all-zero keys.
      const source = Math.floor(rng() * c.shape.seqKV);
      return forEachKeyRow(c, (row, _j, head) => k.copyWithin(row, head + source * headDim, head + (source + 1) * headDim));
    }
    case 'repeated-keys':
      // Runs of identical keys (exact logit ties) of random lengths.
      return forEachKeyRow(c, (row, j) => {
        if (j > 0 && rng() < 0.5) k.copyWithin(row, row - headDim, row);
      });
    case 'denormal-mix':
      for (const x of [q, k, v]) forSmallElements(x, rng, (i) => (x[i] = subnormal(rng)));
      return;
    case 'qk-denormal':
      // Logits ≈ 0: the exact output is the mean of the visible values.
      scaleBy(q, 1e-39 / maxAbs(q));
      return scaleBy(k, 1e-39 / maxAbs(k));
    case 'v-denormal':
      return scaleBy(v, 1e-39 / maxAbs(v));
    case 'neg-zero':
      for (const x of [q, k, v]) forSmallElements(x, rng, (i) => (x[i] = -0));
      return;
    case 'q-neg-zero':
      q.fill(-0);
      return;
    case 'v-neg-zero':
      v.fill(-0);
      return;
  }
}

/** q, k and v of a case (fresh arrays on every call: callers may hand them to code under test). */
export function caseInputs(c: FuzzCase): AttentionInputs {
  const kind = c.data === 'uniform' ? 'uniform' : 'llm';
  const inputs = generateInputs(c.shape, { kind, seed: c.dataSeed, sharpness: c.data === 'sharp' ? 3 : 1 });
  if (c.edge) applyEdge(c.edge, c, inputs);
  if (!c.sharedInputs) return inputs;
  return { q: sharedCopy(inputs.q), k: sharedCopy(inputs.k), v: sharedCopy(inputs.v) };
}

/**
 * The inputs with every −0 and subnormal replaced by +0: numerically the same attention problem, so a backend must
 * answer it exactly as it answers the original (see `EQUIVALENCE_EDGES` in check.ts).
 */
export function cleanedInputs(q: Float32Array, k: Float32Array, v: Float32Array): AttentionInputs {
  const clean = (x: Float32Array) => x.map((value) => (Math.abs(value) < FLOAT32_MIN_NORMAL ? 0 : value));
  return { q: clean(q), k: clean(k), v: clean(v) };
}
