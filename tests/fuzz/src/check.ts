// What a backend's answer to a fuzz case must satisfy, as pure functions of the arrays (no backend calls here).
import { lastVisibleKey, maxAbs } from '@qattn/quant-core';
import { compare } from '@qattn/reference';
import type { EdgeKind, FuzzCase } from './cases.js';
import { FLOAT32_MIN_NORMAL } from './inputs.js';

/**
 * Edge kinds whose exact softmax is a hard argmax (logits scaled by 1e30, or up to quant-core's MAX_BASE2_LOGIT): the output is the value row of the top key,
 * and an INT8 Q·Kᵀ may rank two nearly tied keys the other way, which moves the output by a whole row of V. No
 * relative-L2 bar applies; the output must instead lie in the hull of the visible value rows (see {@link hullViolation}).
 */
export const ARGMAX_EDGES: ReadonlySet<EdgeKind> = new Set(['q-huge', 'k-huge', 'logit-limit']);

/** The first index where `out` is NaN or ±Infinity, or −1. */
export function firstNonFinite(out: Float32Array): number {
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i])) return i;
  return -1;
}

/** Names the first element of q, k or v that differs (bit for bit, −0 included) from its snapshot, or undefined. */
export function modifiedInput(inputs: readonly Float32Array[], snapshots: readonly Float32Array[]): string | undefined {
  for (let t = 0; t < inputs.length; t++) {
    const [now, before] = [inputs[t], snapshots[t]];
    for (let i = 0; i < before.length; i++) if (!Object.is(now[i], before[i])) return `input ${'qkv'[t]}[${i}] was modified (${before[i]} → ${now[i]})`;
  }
  return undefined;
}

/**
 * Checks that every output row is a convex combination of the value rows its query sees, channel by channel, within
 * 2/127 of the channel's largest |v| over its kv head: V is quantized per block of keys and channel, visible or not,
 * after smoothing (V minus its channel mean, a range of up to 2·max|v|), so a code is off by up to half a step,
 * max|v|/127; the P codes' normalization may add as much again. Rows that see no key must be exactly zero. Returns
 * the first violation.
 */
export function hullViolation(out: Float32Array, v: Float32Array, c: FuzzCase): string | undefined {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = c.shape;
  const group = heads / kvHeads;
  // Running minima and maxima over keys 0..j of each kv head: a causal row reads the prefix it sees.
  const lo = new Float64Array(seqKV * headDim); // [seqKV, headDim]
  const hi = new Float64Array(seqKV * headDim);
  const channelMax = new Float64Array(headDim); // max_j |v[j, d]| of the kv head
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < kvHeads; g++) {
      const base = (b * kvHeads + g) * seqKV * headDim;
      channelMax.fill(0);
      for (let j = 0; j < seqKV; j++) {
        for (let d = 0; d < headDim; d++) {
          const x = v[base + j * headDim + d];
          const at = j * headDim + d;
          lo[at] = j === 0 ? x : Math.min(lo[at - headDim], x);
          hi[at] = j === 0 ? x : Math.max(hi[at - headDim], x);
          channelMax[d] = Math.max(channelMax[d], Math.abs(x));
        }
      }
      for (let h = g * group; h < (g + 1) * group; h++) {
        for (let i = 0; i < seqQ; i++) {
          const row = ((b * heads + h) * seqQ + i) * headDim;
          const last = lastVisibleKey(i, seqQ, seqKV, c.causal);
          for (let d = 0; d < headDim; d++) {
            const x = out[row + d];
            if (last < 0) {
              if (x !== 0) return `out[${row + d}] = ${x}, but query ${i} of head ${h} sees no key (expected 0)`;
              continue;
            }
            const [min, max] = [lo[last * headDim + d], hi[last * headDim + d]];
            const tolerance = (2 * channelMax[d]) / 127;
            if (!(x >= min - tolerance && x <= max + tolerance)) {
              return `out[${row + d}] = ${x} lies outside the visible values' range [${min}, ${max}] (± ${tolerance.toExponential(2)})`;
            }
          }
        }
      }
    }
  }
  return undefined;
}

/** The accuracy of an output against float64, judged the way its case class allows. */
export interface Float64Judgement {
  relL2: number;
  /** The relative-L2 bar the output was held to; absent where the case class judges it otherwise. */
  bar?: number;
  /** The failure, if any. */
  failure?: string;
}

/**
 * Judges an output against the float64 reference `expected`: the relative-L2 `bar`, except for hard-argmax edges (the
 * value hull) and outputs that lie entirely below float32's smallest normal (2^−126): there any answer within 2^−126
 * of the truth is right, since a GPU may flush subnormal results to zero (CUDA's ftz, WGSL's allowance).
 */
export function judgeAgainstFloat64(out: Float32Array, expected: Float64Array, v: Float32Array, c: FuzzCase, bar: number): Float64Judgement {
  const { relL2, maxAbs: maxError } = compare(out, expected);
  if (c.edge && ARGMAX_EDGES.has(c.edge)) return { relL2, failure: hullViolation(out, v, c) };
  if (maxAbs(expected) < FLOAT32_MIN_NORMAL) {
    return { relL2, failure: maxError <= FLOAT32_MIN_NORMAL ? undefined : `max |out − float64| ${maxError.toExponential(3)} > 2^−126 on a subnormal output` };
  }
  return { relL2, bar, failure: relL2 <= bar ? undefined : `relative L2 vs float64 ${relL2.toExponential(3)} > bar ${bar}` };
}

/**
 * Edge kinds that manufacture exact rounding ties: with zeros among few keys, a V channel such as [x, 0, 0] smooths to
 * [2x/3, −x/3, −x/3] (minus its mean), whose INT8 codes sit exactly on .5 (127/2); float32 and float64 break such
 * ties either way, one code step on a whole channel (measured 1.1e-3 relative L2 between turbo-attn webgpu and its
 * oracle, both within the float64 bar). The oracle bounds assume ties are rare, so these edges are not compared with
 * the oracle; {@link EQUIVALENCE_EDGES} holds them to something exact instead.
 */
export const TIE_EDGES: ReadonlySet<EdgeKind> = new Set(['neg-zero', 'denormal-mix']);

/**
 * Edge kinds whose inputs are numerically those of `cleanedInputs` (−0 and subnormals as +0): a backend's output must
 * match its own output on the cleaned inputs within 2^−126 per element. −0 must change nothing at all; a subnormal
 * moves an output by less than its own size (a softmax weight times it, or itself where it is the only key a channel
 * sees, which per-channel V scales reproduce exactly), and its share of any sum, mean or scale is far below float32
 * resolution. More means −0 or a subnormal was handled as something else.
 */
export const EQUIVALENCE_EDGES: ReadonlySet<EdgeKind> = new Set(['neg-zero', 'denormal-mix']);

/** The first element where `out` and `cleaned` differ by more than 2^−126, or undefined. */
export function firstDifference(out: Float32Array, cleaned: Float32Array): string | undefined {
  for (let i = 0; i < out.length; i++) {
    if (!(Math.abs(out[i] - cleaned[i]) <= FLOAT32_MIN_NORMAL)) return `out[${i}] = ${out[i]}, but ${cleaned[i]} with −0 and subnormal inputs as +0`;
  }
  return undefined;
}

/**
 * Whether a GPU output is compared with the CPU oracle at all: not for hard-argmax edges (a flipped near-tie is
 * legitimate on either side), tie-making edges ({@link TIE_EDGES}), nor subnormal outputs (flushing is allowed).
 */
export function comparesWithOracle(c: FuzzCase, expected: Float64Array): boolean {
  if (c.edge && (ARGMAX_EDGES.has(c.edge) || TIE_EDGES.has(c.edge))) return false;
  return maxAbs(expected) >= FLOAT32_MIN_NORMAL;
}
