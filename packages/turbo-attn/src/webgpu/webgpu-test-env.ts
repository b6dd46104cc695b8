import { gpuForTests } from '@qattn/webgpu-runtime';

/**
 * The shared device of a turbo-attn WebGPU test file, or undefined when this machine has none; under CI=true or
 * QATTN_EXPECT_WEBGPU=1 a missing adapter throws instead, so the suite fails rather than skips.
 */
export const gpu = (await gpuForTests()).context;

/**
 * Agreement of the WebGPU backend with the CPU oracle (relative L2). The kernel runs the oracle's algorithm on the
 * same INT8 codes with the same integer products; what differs is fp32 rounding — the order of the logit's three
 * factors, row sums split over threads, exponent inputs rounded to f32 before SAS rounds f to fp16 — which flips an
 * occasional P code or fp16 step. Measured on lavapipe over the conformance suite: 6e-8 to 2.3e-5 (len1000). The
 * bound is flash-int8's (5e-4): 20× margin for drivers that round differently, far below the ≈1e-2 that any
 * algorithmic difference costs (a P row max over half the oracle's block: 1.2e-2).
 */
export const ORACLE_AGREEMENT = 5e-4;
