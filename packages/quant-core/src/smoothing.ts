import { QattnError } from './errors.js';
import type { TensorView } from './quantize.js';
import { resolveShape, type AttentionShape } from './shape.js';

/** A tensor with its per-channel mean removed, and the means that were removed. */
export interface Smoothed {
  /** x − mean, row-major like the input `[groups, tokens, channels]`. A new array; the input is untouched. */
  smoothed: Float32Array;
  /** Per-(group, channel) mean over tokens, `[groups, channels]`, float32 (the exact value that was subtracted). */
  means: Float32Array;
}

/**
 * Subtracts, per group and channel, the mean over tokens: `smoothed[g, t, c] = x[g, t, c] − mean[g, c]`.
 *
 * Means are accumulated in float64 and rounded to float32 once; that float32 mean is what gets subtracted, so callers
 * that add it back (V smoothing) or rely on it cancelling (K smoothing) use the exact same value.
 * Throws `ERR_QATTN_DTYPE` / `ERR_QATTN_SHAPE` for a bad input or view.
 */
export function smoothChannels(x: Float32Array, view: TensorView): Smoothed {
  if (!(x instanceof Float32Array)) {
    throw new QattnError('ERR_QATTN_DTYPE', 'smoothChannels: input must be a Float32Array');
  }
  for (const axis of ['groups', 'tokens', 'channels'] as const) {
    const size = (view as unknown as Record<string, unknown> | null)?.[axis];
    if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) {
      throw new QattnError('ERR_QATTN_SHAPE', `view.${axis} must be a positive integer, got ${String(size)} (view [groups, tokens, channels])`, {
        dimension: axis,
      });
    }
  }
  const { groups, tokens, channels } = view;
  if (x.length !== groups * tokens * channels) {
    throw new QattnError('ERR_QATTN_SHAPE', `smoothChannels: input has ${x.length} elements but the view needs ${groups * tokens * channels}`);
  }
  const means = new Float32Array(groups * channels); // [groups, channels]
  const sums = new Float64Array(channels); // [channels]
  const smoothed = new Float32Array(x.length); // [groups, tokens, channels]
  for (let g = 0; g < groups; g++) {
    const groupStart = g * tokens * channels;
    sums.fill(0);
    for (let t = 0; t < tokens; t++) {
      const rowStart = groupStart + t * channels;
      for (let c = 0; c < channels; c++) sums[c] += x[rowStart + c];
    }
    const groupMeans = means.subarray(g * channels, (g + 1) * channels);
    for (let c = 0; c < channels; c++) groupMeans[c] = sums[c] / tokens;
    for (let t = 0; t < tokens; t++) {
      const rowStart = groupStart + t * channels;
      for (let c = 0; c < channels; c++) smoothed[rowStart + c] = x[rowStart + c] - groupMeans[c];
    }
  }
  return { smoothed, means };
}

/**
 * K smoothing (SageAttention): removes from k `[batch, kvHeads, seqKV, headDim]` its per-channel mean over tokens,
 * separately for each (batch, kvHead). Attention is unchanged: every logit of a query row shifts by the same q·mean,
 * and softmax is invariant to that shift (under any mask). What changes is quantization: channels with a large common
 * offset (the outlier channels of LLM keys) no longer dominate each token's INT8 scale.
 *
 * Returns the smoothed copy and the means `[batch, kvHeads, headDim]`; `k` is not modified.
 */
export function smoothK(k: Float32Array, shape: AttentionShape): Smoothed {
  const resolved = resolveShape(shape);
  return smoothChannels(k, { groups: resolved.batch * resolved.kvHeads, tokens: resolved.seqKV, channels: resolved.headDim });
}
