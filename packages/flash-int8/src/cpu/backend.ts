import { benchmarkData, timeOnHost } from '@qattn/quant-core';
import type { FlashInt8Backend } from '../backends.js';
import { attnFwdInt8Cpu } from './attn-fwd-int8.js';

/**
 * The CPU backend: always available, single-threaded, the reference implementation of INT-FlashAttention that the GPU
 * backends are checked against.
 */
export function createCpuBackend(): FlashInt8Backend {
  return {
    name: 'cpu',
    async run({ q, k, v, shape, scale, causal, options }) {
      return attnFwdInt8Cpu(q, k, v, shape, scale, causal, options);
    },
    async benchmark(shape, scale, causal, options, settings) {
      const q = benchmarkData(shape.qElements, settings.seed);
      const k = benchmarkData(shape.kvElements, settings.seed + 1);
      const v = benchmarkData(shape.kvElements, settings.seed + 2);
      return timeOnHost('cpu', settings, () => attnFwdInt8Cpu(q, k, v, shape, scale, causal, options));
    },
  };
}
