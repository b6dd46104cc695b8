import { type CpuAttentionVariant, type ResolvedShape, assertInt32Accumulation, attnFwdQuantizedCpu } from '@qattn/quant-core';
import type { ResolvedFlashInt8Options } from '../options.js';
import { quantizeFlashInt8 } from './quantize-int8.js';

/**
 * INT-FlashAttention as a variant of quant-core's tile loop (docs/KERNELS.md): exact exp2, no sparse-tile skip, and
 * the P quantizer and P·V precision of the options.
 */
export function flashInt8Variant(options: ResolvedFlashInt8Options): CpuAttentionVariant {
  return { exponent: 'exp2', sasThreshold: 0, skipSparseTiles: false, pScale: options.pScale, pCodeMax: options.pCodeMax, pv: options.pv };
}

/**
 * INT-FlashAttention forward on the CPU (docs/ALGORITHMS.md §1), the readable oracle of the GPU kernels: the pre-pass of
 * {@link quantizeFlashInt8}, then quant-core's `attnFwdQuantizedCpu` with {@link flashInt8Variant} — INT8 Q·Kᵀ with
 * INT32 accumulation, online base-2 softmax with exact exp2, INT8 P·V (P codes in [0, pCodeMax], per-row or global P
 * scale), fp16 P·V, or FP8 P·V (e4m3 448·P and per-channel e4m3 V, fp32 sums, V's scale in the epilogue: quant-core's
 * `createPvFp8Stage` spells out the rounding order), O / l (+ V's mean when smoothed); rows that see no key are 0.
 *
 * Inputs must already be validated; they are never modified.
 */
export function attnFwdInt8Cpu(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: ResolvedShape,
  scale: number,
  causal: boolean,
  options: ResolvedFlashInt8Options,
): Float32Array {
  const variant = flashInt8Variant(options);
  assertInt32Accumulation('flashInt8Attention', shape.headDim, options.blockN, variant.pCodeMax);
  const operands = quantizeFlashInt8(q, k, v, shape, options);
  return attnFwdQuantizedCpu(operands, shape, { scale, causal, blockM: options.blockM, blockN: options.blockN }, variant).out;
}
