import { SAS_COEFFICIENTS } from '@qattn/quant-core';
import { wgslFloat } from './dispatch.js';

/** The base-2 exponents of the online softmax the attention kernel can inject. */
export type ExponentName = 'exp2' | 'sas';

/** What a variant injects into `attn_fwd_int8.wgsl` for its exponent. */
export interface ExponentWgsl {
  /**
   * Defines `fn exponent2(x: f32) -> f32` (2^x for x ≤ 0) and `fn exponent2_is_zero(x: f32) -> bool`: true only where
   * `exponent2(x)` is exactly 0 and stays 0 for every smaller x (the all-zero tile skip tests it against the running
   * max, which only grows).
   */
  wgsl: string;
  /**
   * Whether `exponent2` is non-decreasing, so that a tile row's largest P is `exponent2(tile max − m)`. SAS is not
   * (its fp16 Horner steps go up by one ulp at 44 of the 15 360 fp16 f in [0, 1)): the kernel then reduces the row's
   * largest P across its threads, as the CPU oracle takes the max of the P it computed.
   */
  monotone: boolean;
  /** Pipeline cache key of the WGSL. */
  key: string;
}

// Exact exp2 drops nothing: no tile is skipped (far below the row max its f32 P may underflow, the oracle's float64
// P does not, and either is negligible).
const EXACT_EXP2 = `fn exponent2(x: f32) -> f32 {
  return exp2(x);
}
fn exponent2_is_zero(x: f32) -> bool {
  return false;
}`;

/**
 * quant-core's `sasExp2` in WGSL: x < −T → 0; x = −(n + f) with n = ⌊−x⌋; p(f) by Horner on SAS_COEFFICIENTS with f and
 * every multiply and add rounded to fp16 (quantizeToF16: adapters without shader-f16 have no f16 arithmetic); times
 * 2^−n by ldexp (exact). Results below 2^−14 (thresholds above 14) are fp16 subnormals, the multiples of 2^−24:
 * rounded to those in f32, where quantizeToF16 may flush them to 0. Subnormal intermediates of the Horner steps may
 * flush without changing the result: each is added to a coefficient whose half ulp it is below.
 */
function sasWgsl(threshold: number): string {
  const [c0, c1, c2, c3] = SAS_COEFFICIENTS.map(wgslFloat);
  return `const SAS_THRESHOLD: f32 = ${wgslFloat(threshold)};
const FP16_MIN_NORMAL: f32 = 6.103515625e-5; // 2^-14
const FP16_SUBNORMAL_STEPS: f32 = 16777216.0; // 2^24
fn exponent2_is_zero(x: f32) -> bool {
  return x < -SAS_THRESHOLD;
}
fn exponent2(x: f32) -> f32 {
  if (exponent2_is_zero(x)) {
    return 0.0;
  }
  let neg_x = -x;
  let n = floor(neg_x);
  let f = quantizeToF16(neg_x - n); // exact difference: n is neg_x's integer part
  var p = quantizeToF16(${c3} * f);
  p = quantizeToF16(p + ${c2});
  p = quantizeToF16(p * f);
  p = quantizeToF16(p + ${c1});
  p = quantizeToF16(p * f);
  p = quantizeToF16(p + ${c0});
  let scaled = ldexp(p, -i32(n));
  return select(scaled, round(scaled * FP16_SUBNORMAL_STEPS) / FP16_SUBNORMAL_STEPS, scaled < FP16_MIN_NORMAL);
}`;
}

/** The WGSL of each exponent, by name (the variant's data picks one; kernels never branch on it). */
const EXPONENTS: Record<ExponentName, (threshold: number) => ExponentWgsl> = {
  exp2: () => ({ wgsl: EXACT_EXP2, monotone: true, key: 'exp2' }),
  sas: (threshold) => ({ wgsl: sasWgsl(threshold), monotone: false, key: `sas-t${threshold}` }),
};

/** The WGSL of an exponent: `'exp2'` (exact) or `'sas'` with threshold T (read only by `'sas'`). */
export function exponentWgsl(name: ExponentName, threshold: number): ExponentWgsl {
  return EXPONENTS[name](threshold);
}
