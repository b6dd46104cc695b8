import { QattnError, benchmarkData, timeOnHost } from '@qattn/quant-core';
import type { TurboBackend, TurboCall } from '../backends.js';
import { type FlashQStats, attnFwdFlashQCpu } from './attn_fwd_flashq_cpu.js';
import { quantizeFlashQ } from './quantize_flashq_cpu.js';
import { flashQVariant } from './variant.js';

/** Largest finite float32: logits beyond it would turn the softmax into NaNs. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Largest headDim whose INT8 dot products fit INT32: 127² · headDim ≤ 2^31 − 1. */
const MAX_HEAD_DIM = Math.floor((2 ** 31 - 1) / (127 * 127));

/**
 * Runs TurboAttention's FlashQ + SAS on the CPU and reports which tiles were skipped. Inputs must already be validated
 * (`turboAttention` does it); they are never modified.
 */
export function turboAttentionCpu({ q, k, v, shape, scale, causal, options }: TurboCall): { out: Float32Array; stats: FlashQStats } {
  if (shape.headDim > MAX_HEAD_DIM) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `turboAttention: headDim ${shape.headDim} exceeds ${MAX_HEAD_DIM}, where INT8 dot products overflow INT32`, {
      headDim: shape.headDim,
    });
  }
  checkLogitRange(q, k, shape.headDim, scale);
  const operands = quantizeFlashQ(q, k, v, shape, options);
  return attnFwdFlashQCpu(operands, shape, { scale, causal, blockM: options.blockM, blockN: options.blockN }, flashQVariant(options));
}

/**
 * The CPU backend: always available, single-threaded, the readable reference implementation of FlashQ that GPU
 * backends are checked against.
 */
export function createCpuBackend(): TurboBackend {
  return {
    name: 'cpu',
    async run(call) {
      return turboAttentionCpu(call).out;
    },
    async benchmark(shape, scale, causal, options, settings) {
      const q = benchmarkData(shape.qElements, settings.seed);
      const k = benchmarkData(shape.kvElements, settings.seed + 1);
      const v = benchmarkData(shape.kvElements, settings.seed + 2);
      return timeOnHost('cpu', settings, () => turboAttentionCpu({ q, k, v, shape, scale, causal, options }));
    },
  };
}

/**
 * Rejects inputs whose logits could overflow float32 (|q·k|·scale·log2e ≤ headDim·max|q|·max|k|·scale·log2e): the fp32
 * softmax would produce NaNs where the float64 reference does not, so the call fails loudly instead.
 */
function checkLogitRange(q: Float32Array, k: Float32Array, headDim: number, scale: number): void {
  const bound = headDim * maxAbs(q) * maxAbs(k) * scale * Math.LOG2E;
  if (bound > FLOAT32_MAX / 2) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `turboAttention: logits may reach ${bound.toExponential(2)} and overflow float32 (max|q|·max|k|·headDim·scale·log2e); rescale q or k`,
      { bound },
    );
  }
}

function maxAbs(x: Float32Array): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) {
    const magnitude = Math.abs(x[i]);
    if (magnitude > max) max = magnitude;
  }
  return max;
}
