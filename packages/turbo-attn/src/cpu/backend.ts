import { QattnError, assertLogitsFitFloat32, benchmarkData, timeOnHost } from '@qattn/quant-core';
import type { TurboBackend, TurboCall } from '../backends.js';
import { type FlashQStats, attnFwdFlashQCpu } from './attn_fwd_flashq_cpu.js';
import { quantizeFlashQ } from './quantize_flashq_cpu.js';
import { flashQVariant } from './variant.js';

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
  assertLogitsFitFloat32('turboAttention', q, k, shape.headDim, scale);
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
