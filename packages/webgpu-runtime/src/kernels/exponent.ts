import { SAS_COEFFICIENTS } from '@qattn/quant-core';
import type { GpuCapabilities } from '../device.js';
import { wgslFloat } from './dispatch.js';

/** The base-2 exponents of the online softmax the attention kernel can inject. */
export type ExponentName = 'exp2' | 'sas';

/**
 * The arithmetic SAS's polynomial runs in on the device (a device choice, not an algorithm option: see
 * {@link chooseSasPrecision}).
 * - `'f16'`: quant-core's `sasExp2` in real f16 (`enable f16;`), the CPU oracle's own arithmetic. Needs `shader-f16`.
 *   Not monotone, so the kernel reduces each tile row's largest P over the row's threads.
 * - `'f32'`: the same coefficients, n/f split, threshold and exact 0 below −T, by three f32 FMAs. Over eight times
 *   more accurate than the oracle (max relative error vs 2^x below {@link SAS_F32_MAX_REL_ERROR}; the oracle's:
 *   1.30e−3) and monotone, so the kernel takes a row's largest P from its largest score, as for exp2.
 */
export type SasPrecision = 'f16' | 'f32';

/** What a variant injects into `attn_fwd_int8.wgsl` for its exponent. */
export interface ExponentWgsl {
  /**
   * Defines `fn exponent2(x: f32) -> f32` (2^x for x ≤ 0) and `fn exponent2_is_zero(x: f32) -> bool`: true only where
   * `exponent2(x)` is exactly 0 and stays 0 for every smaller x (the all-zero tile skip tests it against the running
   * max, which only grows).
   */
  wgsl: string;
  /** The WGSL uses f16 arithmetic: the module must start with `enable f16;` (a `shader-f16` device). */
  needsF16: boolean;
  /**
   * Whether `exponent2` is non-decreasing, so that a tile row's largest P is `exponent2(tile max − m)`. SAS in f16 is
   * not (the oracle's fp16 Horner steps go up by one ulp at 44 of the 15 360 fp16 f in [0, 1)): the kernel then
   * reduces the row's largest P across its threads, as the CPU oracle takes the max of the P it computed.
   */
  monotone: boolean;
  /** Pipeline cache key of the WGSL. */
  key: string;
}

/**
 * Bound on the relative error |exponent2(x) − 2^x| / 2^x of SAS in f32 over x ∈ [−T, 0], for every threshold
 * T ≤ SAS_MAX_THRESHOLD (f32 keeps every result normal). Measured on lavapipe: 1.56e−4 (at x ≈ −0.564 − n; the
 * polynomial itself, with its fp16 coefficients in exact arithmetic, errs by at most 1.51e−4, and stepping f by 2^−16
 * adds at most 5.3e−6, f32 rounding ~1e−7). Over eight times tighter than the f16 evaluation's quant-core
 * `SAS_MAX_REL_ERROR` (1.35e−3).
 * `attention-kernels.test.ts` re-measures it on the device and asserts this bound.
 */
export const SAS_F32_MAX_REL_ERROR = 1.6e-4;

// Exact exp2 drops nothing: no tile is skipped (far below the row max its f32 P may underflow, the oracle's float64
// P does not, and either is negligible).
const EXACT_EXP2 = `fn exponent2(x: f32) -> f32 {
  return exp2(x);
}
fn exponent2_is_zero(x: f32) -> bool {
  return false;
}`;

/** Steps of 2^−16 per unit of −x in the f32 evaluation (see {@link sasF32Wgsl}). */
const SAS_F32_STEPS_PER_UNIT = 65536;

/**
 * SAS in f32: x < −T → 0; x = −(n + f); p(f) = SAS_COEFFICIENTS by Horner as three FMAs; 2^−n by subtracting n from
 * p's exponent bits. Every result is an f32 normal (p ≥ 1/2, n ≤ 24), so the bit arithmetic is exact.
 *
 * Monotone by construction, which lets the kernel take a tile row's largest P from its largest score:
 * - −x is rounded to a multiple of 2^−16 (−x · 2^16 is exact, an integer below 2^32 for x ≥ −T; round is monotone),
 *   and n, f are read off that integer. On that grid p falls by at least 0.348 · 2^−16 ≈ 5.3e−6 per step
 *   (|p′| ≥ 0.348 on [0, 1]), ~90 f32 ulps of p, while the three FMAs err by under 1.2 ulps (under 2 if the driver
 *   does not fuse them): the computed p is strictly decreasing in f.
 * - p(1) = 0.49994 < 1/2, so the polynomial alone would step up by 1.2e−4 where f wraps from 1 − 2^−16 to 0 (x
 *   crossing −n). max(p, 1/2) removes the step — 2^−(n−1) · 1/2 = 2^−n · p(0) — and is closer to 2^−f there.
 * The 2^−16 grid costs at most ln2 · 2^−17 ≈ 5.3e−6 in relative error.
 *
 * Garbage n for x far below −T (the masked NEG_BIG) never reaches the result: the final select returns 0.
 */
function sasF32Wgsl(threshold: number): string {
  const [c0, c1, c2, c3] = SAS_COEFFICIENTS.map(wgslFloat);
  return `const SAS_THRESHOLD: f32 = ${wgslFloat(threshold)};
const SAS_STEPS_PER_UNIT: f32 = ${wgslFloat(SAS_F32_STEPS_PER_UNIT)};
fn exponent2_is_zero(x: f32) -> bool {
  return x < -SAS_THRESHOLD;
}
fn exponent2(x: f32) -> f32 {
  let steps = u32(round(-x * SAS_STEPS_PER_UNIT)); // -x in units of 2^-16; u32() saturates far below -T
  let f = f32(steps & 0xffffu) * (1.0 / SAS_STEPS_PER_UNIT);
  let p = max(fma(fma(fma(${c3}, f, ${c2}), f, ${c1}), f, ${c0}), 0.5);
  let scaled = bitcast<f32>(bitcast<u32>(p) - ((steps >> 16u) << 23u)); // p * 2^-n
  return select(scaled, 0.0, exponent2_is_zero(x));
}`;
}

/** fp16's smallest normal is 2^−14: SAS results stay normal for thresholds up to 14. */
const FP16_MIN_NORMAL_EXPONENT = 14;

/**
 * quant-core's `sasExp2` in f16 arithmetic: x < −T → 0; x = −(n + f) with n = ⌊−x⌋; f rounded to f16; p(f) by Horner
 * on SAS_COEFFICIENTS, each multiply and add a separate f16 operation; times 2^−n in f32 by exponent-bit arithmetic
 * (exact: p ≥ 1/2, n ≤ 24). Results below 2^−14, which only thresholds above 14 keep, are fp16 subnormals, the
 * multiples of 2^−24: rounded to those in f32 (the device's f16 might flush them to 0), and for T ≤ 14 that rounding
 * is left out. Subnormal intermediates of the Horner steps may flush without changing the result: each is added to a
 * coefficient whose half ulp it is below.
 */
function sasF16Wgsl(threshold: number): string {
  const [c0, c1, c2, c3] = SAS_COEFFICIENTS.map((c) => `${wgslFloat(c)}h`);
  const result =
    threshold > FP16_MIN_NORMAL_EXPONENT
      ? `let fp16 = select(scaled, round(scaled * 16777216.0) * (1.0 / 16777216.0), scaled < 6.103515625e-5); // 2^24; 2^-14
  return select(fp16, 0.0, exponent2_is_zero(x));`
      : 'return select(scaled, 0.0, exponent2_is_zero(x));';
  return `const SAS_THRESHOLD: f32 = ${wgslFloat(threshold)};
fn exponent2_is_zero(x: f32) -> bool {
  return x < -SAS_THRESHOLD;
}
fn exponent2(x: f32) -> f32 {
  let neg_x = -x;
  let n = floor(neg_x);
  let f = f16(neg_x - n); // exact difference: n is neg_x's integer part
  var p = ${c3} * f;
  p = p + ${c2};
  p = p * f;
  p = p + ${c1};
  p = p * f;
  p = p + ${c0};
  let scaled = bitcast<f32>(bitcast<u32>(f32(p)) - (u32(n) << 23u)); // p * 2^-n
  ${result}
}`;
}

/**
 * The WGSL of an exponent: `'exp2'` (exact), or `'sas'` with threshold T in `precision` (both read only by `'sas'`,
 * so every exp2 variant shares one pipeline).
 */
export function exponentWgsl(name: ExponentName, threshold: number, precision: SasPrecision): ExponentWgsl {
  if (name === 'exp2') return { wgsl: EXACT_EXP2, needsF16: false, monotone: true, key: 'exp2' };
  const key = `sas-t${threshold}-${precision}`;
  return precision === 'f16'
    ? { wgsl: sasF16Wgsl(threshold), needsF16: true, monotone: false, key }
    : { wgsl: sasF32Wgsl(threshold), needsF16: false, monotone: true, key };
}

/**
 * The SAS precision a device gets by default: real f16, the CPU oracle's arithmetic (bit for bit on lavapipe), where
 * the adapter has `shader-f16`; f32 elsewhere (the H200 through Vulkan, for one). Either costs a few ALU operations:
 * on lavapipe (B1 H8 N512 D64, interleaved runs) the f16 kernel measured 3–8% slower than the f32 one, which is within
 * 0–6% of exact exp2.
 * `WebGpuRunOptions.sasPrecision` overrides it.
 */
export function chooseSasPrecision(capabilities: Pick<GpuCapabilities, 'shaderF16'>): SasPrecision {
  return capabilities.shaderF16 ? 'f16' : 'f32';
}
