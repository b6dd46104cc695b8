import {
  type AttentionShape,
  type BackendStatus,
  type BenchmarkResult,
  type BenchmarkSettings,
  resolveBenchmarkSettings,
  resolveCommonOptions,
  resolveShape,
  validateAttentionInputs,
} from '@qattn/quant-core';
import { registry } from './backends.js';
import { assertCallRanges } from './input-ranges.js';
import { type FlashInt8Options, resolveFlashInt8Options } from './options.js';

export { FLASH_INT8_OPTIONS, defaultBlockN, resolveFlashInt8Options, type FlashInt8Options, type ResolvedFlashInt8Options } from './options.js';
export type { FlashInt8Backend, FlashInt8Call } from './backends.js';
export type { BenchmarkResult, BenchmarkSettings } from '@qattn/quant-core';

/**
 * INT-FlashAttention (arXiv 2409.16997): softmax(q·kᵀ·scale)·v with INT8 Q·Kᵀ (per-token scales, INT32 accumulation)
 * and INT8 (or fp16) P·V, computed tile by tile with an online softmax.
 *
 * q is `[batch, heads, seqQ, headDim]`, k and v `[batch, kvHeads, seqKV, headDim]` (row-major Float32Arrays; query
 * head h reads kv head ⌊h / (heads / kvHeads)⌋). Causal masking is bottom-right aligned. Resolves to a new Float32Array
 * of q's shape; the inputs are not modified.
 *
 * Rejects with a `QattnError`: `ERR_QATTN_SHAPE`, `ERR_QATTN_DTYPE`, `ERR_QATTN_NONFINITE` (bad inputs),
 * `ERR_QATTN_OPTION` (unknown option or bad value), `ERR_QATTN_BACKEND_UNAVAILABLE` (the requested backend cannot
 * load here; the message says why), `ERR_QATTN_UNSUPPORTED` (the backend lacks this option combination).
 *
 * @example
 * const out = await flashInt8Attention(q, k, v, { batch: 1, heads: 8, seqQ: 1024, seqKV: 1024, headDim: 128 }, { causal: true });
 */
export async function flashInt8Attention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: AttentionShape,
  options?: FlashInt8Options,
): Promise<Float32Array> {
  const resolved = resolveFlashInt8Options(options, shape?.headDim);
  const inputs = validateAttentionInputs(q, k, v, shape, { causal: resolved.causal, scale: resolved.scale });
  const call = { q, k, v, shape: inputs.shape, scale: inputs.scale, causal: inputs.causal, options: resolved, maxAbs: inputs.maxAbs };
  assertCallRanges(call);
  const { backend } = await registry.resolve(resolved.backend);
  return backend.run(call);
}

/**
 * Times flash-int8 on the backend `options.backend` selects, on generated inputs of `shape` (the contract
 * `qattn-bench` consumes). GPU backends upload once and time on the device (CUDA events, WebGPU timestamp queries);
 * the CPU backend uses the host clock. `medianMs` includes quantization; `quantMs` and `attnMs` split it where the
 * backend can.
 *
 * @example
 * const t = await flashInt8Benchmark({ batch: 4, heads: 32, seqQ: 4096, seqKV: 4096, headDim: 128 }, { backend: 'cuda' }, { warmup: 3, repeats: 10 });
 * const tops = (4 * 4 * 32 * 4096 * 4096 * 128) / (t.medianMs * 1e9);
 */
export async function flashInt8Benchmark(
  shape: AttentionShape,
  options: FlashInt8Options | undefined,
  settings: BenchmarkSettings,
): Promise<BenchmarkResult> {
  const resolved = resolveFlashInt8Options(options, shape?.headDim);
  const resolvedShape = resolveShape(shape);
  const { scale, causal } = resolveCommonOptions({ causal: resolved.causal, scale: resolved.scale }, resolvedShape.headDim);
  const timing = resolveBenchmarkSettings(settings);
  const { backend } = await registry.resolve(resolved.backend);
  return backend.benchmark(resolvedShape, scale, causal, resolved, timing);
}

/** Probes every backend of this package: which load here, by priority, and why the others do not. */
export function flashInt8Backends(): Promise<BackendStatus[]> {
  return registry.status();
}
export * from './webgpu/index.js';
export { flashInt8AttentionDevice, createCudaBackend, type FlashInt8CudaBackend, type CudaBenchmarkResult } from './cuda/index.js';
