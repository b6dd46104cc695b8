import { f16round } from '@petamoriken/float16';
import { QattnError } from './errors.js';

/**
 * Coefficients c0..c3 of p(f) = c0 + c1·f + c2·f² + c3·f³ ≈ 2^−f on f ∈ [0, 1], each an exact fp16 value.
 *
 * Fitted by `scripts/fit-sas.mjs`: Remez exchange on the relative error gives the float64 minimax polynomial
 * (0.999925, −0.691021, 0.230070, −0.039012; max relative error 7.5e−5), then every combination within ±2 fp16 ulps of
 * its fp16-rounded coefficients is scored by the max relative error of the fp16 Horner evaluation over every fp16 f in
 * [0, 1] (1.65e−3 for the plain rounding, 1.14e−3 for these). Relative error is what matters: the 2^−n factor scales
 * p exactly. c0 = 1 makes 2^0 exact.
 */
export const SAS_COEFFICIENTS: readonly [number, number, number, number] = Object.freeze([
  1, -0.69140625, 0.2303466796875, -0.03900146484375,
] as const);

/**
 * Default sparsity threshold T (base 2): scores more than T below the row max contribute exactly 0.
 * 14 is the largest T whose kept results 2^−n·p stay fp16-normal (2^−14), so a kernel can form 2^−n by exponent
 * arithmetic. On LLM-like attention (an attention sink ~9 above hundreds of keys that share the remaining mass) it is
 * as accurate as exact exp2, while T = 12 and 10 cost +0.7 and +6.4 points of relative L2 (`@qattn/turbo-attn`'s
 * options.ts has the measurements): what matters is the total mass of the dropped scores, not their size one by one.
 */
export const SAS_DEFAULT_THRESHOLD = 14;

/**
 * Margin of {@link sasThresholdForKeys}: 2^−6 bounds the mass a row can lose relative to its largest term.
 */
export const SAS_KEY_MARGIN = 6;

/**
 * The SAS threshold for rows over `seqKV` keys (the `'auto'` default of the attention and decode entries): what SAS
 * drops is at most seqKV · 2^−T of the row max's weight, so T grows with log2(seqKV): T = ⌈log2 seqKV⌉ + 6, never
 * below {@link SAS_DEFAULT_THRESHOLD} nor above {@link SAS_MAX_THRESHOLD}. A fixed T = 14 let the many keys behind an
 * attention sink lose real mass at long rows: on `@qattn/reference` LLM-like data (hd 128, the bench's accuracy rows),
 * turbo-attn's relative L2 was 3.38% / 2.76% at 4K / 16K keys against 1.65% / 2.15% with exact exp2; with this rule
 * (T = 18 / 20) it is 1.66% / 2.15%. Below 256 keys it stays 14.
 */
export function sasThresholdForKeys(seqKV: number): number {
  if (!(Number.isInteger(seqKV) && seqKV > 0)) return SAS_DEFAULT_THRESHOLD;
  const t = Math.ceil(Math.log2(seqKV)) + SAS_KEY_MARGIN;
  return Math.min(SAS_MAX_THRESHOLD, Math.max(SAS_DEFAULT_THRESHOLD, t));
}

/**
 * Largest accepted threshold: 2^−24 is the smallest fp16 subnormal, below which every result is 0 anyway.
 * Results below 2^−14 are fp16 subnormals with fewer significant bits (see {@link SAS_MAX_REL_ERROR}).
 */
export const SAS_MAX_THRESHOLD = 24;

/**
 * Bound on the relative error |sas(x) − 2^x| / 2^x over x ∈ [−14, 0] (fp16 normal results). Measured: 1.30e−3 (at
 * x ≈ −3.936), on 2^20 + 1 evenly spaced points plus x = −(n + f) for every fp16 f in [0, 1) and n = 0..13. Includes
 * rounding f to fp16 and every op of the evaluation. `sas.test.ts` re-measures it and asserts this bound.
 */
export const SAS_MAX_REL_ERROR = 1.35e-3;

/**
 * Bound on the absolute error |sas(x) − 2^x| over x ∈ [−24, 0], so for every threshold T ≤ {@link SAS_MAX_THRESHOLD}.
 * Measured: 6.8e−4 (at x ≈ −0.936, where the values are ≈ 0.52). Dropped scores (x < −T) err by less than 2^−T.
 */
export const SAS_MAX_ABS_ERROR = 7.0e-4;

/**
 * SAS exponent (TurboAttention's sparsity-based softmax approximation): 2^x for x ≤ 0 without a transcendental call.
 *
 *   x < −T            → 0 exactly (sparsity: the score is negligible next to the row max)
 *   x = −(n + f)        n = ⌊−x⌋ ∈ ℕ, f = −x − n ∈ [0, 1)
 *   2^x = 2^−n · 2^−f ≈ 2^−n · p(f16(f))
 *
 * p is {@link SAS_COEFFICIENTS} evaluated by Horner in fp16-faithful arithmetic: f is rounded to fp16, and each
 * multiply and each add is rounded to fp16 separately (no fused multiply-add — the conservative choice; a kernel using
 * `hfma2` is at least this accurate). 2^−n is an exact power of two (a kernel subtracts n from the fp16 exponent or
 * reads a 25-entry table); the product is rounded to fp16, which is exact unless it is subnormal (x < −14).
 * x is the fp32 score difference s − m_row of the attention kernel; x = 0 gives exactly 1.
 *
 * Measured against Math.pow(2, x) (see {@link SAS_MAX_REL_ERROR}, {@link SAS_MAX_ABS_ERROR}):
 * max relative error 1.30e−3 on [−14, 0] (up to 33% on the subnormal results of [−24, −14)), max absolute error
 * 6.8e−4 on [−24, 0].
 * Also defined for x > 0 (n < 0), as the same formula; the attention kernels never call it there.
 *
 * @param x exponent, base 2 (finite or −Infinity; −Infinity and NaN give 0)
 * @param threshold T in [0, {@link SAS_MAX_THRESHOLD}]; not validated here (hot path): validate once with
 *   {@link checkSasThreshold}.
 */
export function sasExp2(x: number, threshold: number = SAS_DEFAULT_THRESHOLD): number {
  // `!(x >= −T)` also sends NaN and −Infinity (an empty row's running max) to exactly 0.
  if (!(x >= -threshold)) return 0;
  const negX = -x;
  const n = Math.floor(negX);
  const f = f16round(negX - n);
  let p = f16round(SAS_COEFFICIENTS[3] * f);
  p = f16round(p + SAS_COEFFICIENTS[2]);
  p = f16round(p * f);
  p = f16round(p + SAS_COEFFICIENTS[1]);
  p = f16round(p * f);
  p = f16round(p + SAS_COEFFICIENTS[0]);
  return f16round(p * (n >= 0 && n < POW2_NEG.length ? POW2_NEG[n] : 2 ** -n));
}

/** 2^−n for n = 0..24: the table a kernel keeps in constant memory (exact in float64). */
const POW2_NEG = Float64Array.from({ length: SAS_MAX_THRESHOLD + 1 }, (_, n) => 2 ** -n);

/**
 * Validates a SAS threshold once, before a kernel's hot loop: a finite number in [0, {@link SAS_MAX_THRESHOLD}].
 * Throws `ERR_QATTN_OPTION` otherwise.
 */
export function checkSasThreshold(threshold: unknown): number {
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0 || threshold > SAS_MAX_THRESHOLD) {
    throw new QattnError('ERR_QATTN_OPTION', `sasThreshold must be a number in [0, ${SAS_MAX_THRESHOLD}], got ${String(threshold)}`, {
      option: 'sasThreshold',
      value: threshold,
    });
  }
  return threshold;
}
