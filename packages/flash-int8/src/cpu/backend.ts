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
  };
}
