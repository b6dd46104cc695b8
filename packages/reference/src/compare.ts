import { QattnError } from '@qattn/quant-core';

/** How far an output is from its reference. */
export interface Comparison {
  /** Cosine similarity of the flattened tensors (1 = same direction). 1 when both are all zero. */
  cos: number;
  /** Relative L2 error ‖actual − expected‖ / ‖expected‖ (0 when both are all zero). */
  relL2: number;
  /** Largest absolute element-wise difference. */
  maxAbs: number;
  /** Root mean square of the element-wise difference. */
  rmse: number;
}

/**
 * Compares an output with its reference over every element, in float64. Never a spot check: the metrics of
 * docs/ALGORITHMS.md §4 (relative L2 and cosine similarity) need all of them. A NaN anywhere makes every metric NaN, so it
 * can never pass a bound.
 */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>): Comparison {
  if (actual.length !== expected.length) {
    throw new QattnError('ERR_QATTN_SHAPE', `compare: lengths differ (${actual.length} vs ${expected.length})`, {
      actual: actual.length,
      expected: expected.length,
    });
  }
  let dot = 0;
  let normA = 0;
  let normE = 0;
  let diff2 = 0;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const d = a - e;
    dot += a * e;
    normA += a * a;
    normE += e * e;
    diff2 += d * d;
    const ad = Math.abs(d);
    // NaN comparisons are false, so test for it explicitly: a NaN must poison maxAbs too.
    if (ad > maxAbs || Number.isNaN(ad)) maxAbs = ad;
  }
  const n = Math.max(1, actual.length);
  const bothZero = normA === 0 && normE === 0;
  return {
    cos: bothZero ? 1 : dot / Math.sqrt(normA * normE),
    relL2: bothZero ? 0 : Math.sqrt(diff2) / Math.sqrt(normE),
    maxAbs,
    rmse: Math.sqrt(diff2 / n),
  };
}
