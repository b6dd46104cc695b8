import { sasThresholdForKeys } from '@qattn/quant-core';
import { chooseSasPrecision, gpuForTests, SAS_F32_MAX_REL_ERROR, type SasPrecision } from '@qattn/webgpu-runtime';

/**
 * The shared device of a turbo-attn WebGPU test file, or undefined when this machine has none; under CI=true or
 * QATTN_EXPECT_WEBGPU=1 a missing adapter throws instead, so the suite fails rather than skips.
 */
export const gpu = (await gpuForTests()).context;

/** The SAS precision calls get on this device by default (`chooseSasPrecision`: f16 on lavapipe, f32 on the H200). */
export const DEFAULT_SAS_PRECISION: SasPrecision = gpu ? chooseSasPrecision(gpu.capabilities) : 'f32';

/** Every SAS precision this device runs: f32 everywhere, f16 where the adapter has `shader-f16` (lavapipe does). */
export const SAS_PRECISIONS: readonly SasPrecision[] = gpu?.capabilities.shaderF16 ? ['f32', 'f16'] : ['f32'];

/**
 * Agreement of the WebGPU backend with the CPU oracle (relative L2) where the device computes the oracle's exponent:
 * exact exp2, or SAS in f16. The kernel runs the oracle's algorithm on the same INT8 codes with the same integer
 * products; what differs is fp32 rounding — the order of the logit's three factors, row sums split over threads,
 * exponent inputs rounded to f32 before SAS rounds f to fp16 — which flips an occasional P code or fp16 step.
 * Measured on lavapipe over the conformance, lever and schedule suites: 0 to 2.8e-5. The bound is flash-int8's
 * (5e-4): 20× margin for drivers that round differently, far below the ≈1e-2 that any algorithmic difference costs (a
 * P row max over half the oracle's block: 1.2e-2).
 */
export const ORACLE_AGREEMENT = 5e-4;

/**
 * Agreement with the CPU oracle where the device evaluates SAS in f32 (`sasPrecision: 'f32'`): the same algorithm with
 * another exponent, so the bound is {@link ORACLE_AGREEMENT} plus what the exponents' difference can cost.
 * - Each P differs from the oracle's by at most Δ = 1.51e-3 relative: f32 SAS errs by ≤ SAS_F32_MAX_REL_ERROR
 *   (1.6e-4) and the oracle's fp16 SAS by ≤ SAS_MAX_REL_ERROR (1.35e-3) from 2^x (measured max |ratio − 1|: 1.33e-3).
 * - The output is the P-weighted mean of V, so it moves by at most Δ · Σⱼ wⱼ|vⱼ − o|: relative L2 ≤ Δ · R with
 *   R = ‖Σⱼ wⱼ|vⱼ − o|‖ / ‖o‖, the spread of V under the attention weights over the output's size. R ≤ 0.8 on most
 *   conformance cases, 1.7–2.3 for long rows (decode, len1000) and 3.6 for the flattest softmax (scale 0.05): Δ · R ≤
 *   5.4e-3. Rounding P to INT8 codes redistributes the shift (a code flips with a probability proportional to its P's
 *   shift), so small-R cases land above Δ · R but not beyond the flattest case's.
 * Measured on lavapipe: 1.5e-4 to 2.9e-3 (scale 0.05), 1.2e-3 on typical LLM-like rows. Bound: 5e-4 + 5.4e-3. Both
 * SAS evaluations are equally far from float64 (within 2e-5 of each other's relative L2), and wherever the device
 * has shader-f16 the f16 path holds the same kernel to {@link ORACLE_AGREEMENT}.
 * That is for T ≤ 14. Above it (the `'auto'` threshold of rows over more than 256 keys) the oracle rounds results
 * below 2^−14 to fp16 subnormals, multiples of 2^−24: off by up to 2^−25 absolute, i.e. 2^−25 · 2^T relative at the
 * threshold, so Δ grows to 2^(T−25) + 1.6e-4 (T = 16: 2.1e-3) and the bound to 5e-4 + Δ · 3.6
 * ({@link sasF32OracleAgreement}).
 */
export const SAS_F32_ORACLE_AGREEMENT = 6e-3;

/** The f32-SAS agreement bound at threshold T (see {@link SAS_F32_ORACLE_AGREEMENT}). */
export function sasF32OracleAgreement(threshold: number): number {
  if (threshold <= 14) return SAS_F32_ORACLE_AGREEMENT;
  return ORACLE_AGREEMENT + (2 ** (threshold - 25) + SAS_F32_MAX_REL_ERROR) * 3.6;
}

/**
 * The agreement bound of a call: {@link sasF32OracleAgreement} of its threshold (a number, or 'auto' for `seqKV` keys)
 * when it evaluates SAS in f32, else {@link ORACLE_AGREEMENT}.
 */
export function oracleAgreement(options: { sas?: boolean; sasThreshold?: number | 'auto' }, precision: SasPrecision = DEFAULT_SAS_PRECISION, seqKV = 0): number {
  if (options.sas === false || precision !== 'f32') return ORACLE_AGREEMENT;
  return sasF32OracleAgreement(typeof options.sasThreshold === 'number' ? options.sasThreshold : sasThresholdForKeys(seqKV));
}
