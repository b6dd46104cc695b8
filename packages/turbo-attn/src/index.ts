import {
  type AttentionShape,
  type BenchmarkResult,
  type BenchmarkSettings,
  QattnError,
  resolveBenchmarkSettings,
  resolveCommonOptions,
  resolveShape,
  validateAttentionInputs,
} from '@qattn/quant-core';
import { registry } from './backends.js';
import { type FlashQStats, turboAttentionCpu } from './cpu/backend.js';
import { type TurboOptions, resolveTurboOptions } from './options.js';

export { TURBO_OPTION_TABLE, resolveTurboOptions, type TurboOptions, type ResolvedTurboOptions } from './options.js';
export { turboBackends, type TurboBackend, type TurboCall } from './backends.js';
export type { FlashQStats } from './cpu/backend.js';
export type { BenchmarkResult, BenchmarkSettings } from '@qattn/quant-core';
export * from './webgpu/index.js';
export * from './cuda/index.js';
export * from './decode/index.js';

/**
 * TurboAttention (arXiv 2412.08585): softmax(q·kᵀ·scale)·v with FlashQ — q, k and v quantized to INT8 block-wise per
 * head on the FlashAttention tiles, INT8 Q·Kᵀ and INT8 P·V with INT32 accumulation — and SAS, the sparse fp16
 * polynomial exponent that replaces the fp32 exp of the online softmax.
 *
 * q is `[batch, heads, seqQ, headDim]`, k and v `[batch, kvHeads, seqKV, headDim]` (row-major Float32Arrays; query
 * head h reads kv head ⌊h / (heads / kvHeads)⌋). Causal masking is bottom-right aligned (query i sees keys
 * j ≤ i + seqKV − seqQ; a query that sees no key outputs 0). Resolves to a new Float32Array of q's shape; the inputs
 * are not modified.
 *
 * Rejects with a `QattnError`: `ERR_QATTN_SHAPE`, `ERR_QATTN_DTYPE`, `ERR_QATTN_NONFINITE` (bad inputs),
 * `ERR_QATTN_OPTION` (unknown option or bad value), `ERR_QATTN_BACKEND_UNAVAILABLE` (the requested backend cannot
 * load here; the message says why), `ERR_QATTN_UNSUPPORTED` (logits beyond quant-core's `MAX_BASE2_LOGIT`, or values the
 * INT8 kernels cannot scale).
 *
 * @example
 * const out = await turboAttention(q, k, v, { batch: 1, heads: 8, seqQ: 1024, seqKV: 1024, headDim: 128 }, { causal: true });
 */
export async function turboAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: AttentionShape,
  options?: TurboOptions,
): Promise<Float32Array> {
  const resolved = resolveTurboOptions(options, shape?.seqKV);
  const inputs = validateAttentionInputs(q, k, v, shape, { causal: resolved.causal, scale: resolved.scale });
  const { backend } = await registry.resolve(resolved.backend);
  return backend.run({ q, k, v, shape: inputs.shape, scale: inputs.scale, causal: inputs.causal, options: resolved, maxAbs: inputs.maxAbs });
}

/**
 * {@link turboAttention} on the CPU oracle, also reporting how many (query tile × key tile) pairs the causal mask and
 * SAS sparsity skipped. `options.backend` must be `'auto'` or `'cpu'` (else `ERR_QATTN_OPTION`): only the oracle
 * counts tiles.
 *
 * @example
 * const { out, stats } = await turboAttentionWithStats(q, k, v, shape, { sasThreshold: 8 });
 * console.log(`${stats.skippedSparse} of ${stats.tiles} tiles were all-zero under SAS`);
 */
export async function turboAttentionWithStats(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: AttentionShape,
  options?: TurboOptions,
): Promise<{ out: Float32Array; stats: FlashQStats }> {
  const resolved = resolveTurboOptions(options, shape?.seqKV);
  if (resolved.backend !== 'auto' && resolved.backend !== 'cpu') {
    throw new QattnError('ERR_QATTN_OPTION', `turboAttentionWithStats: options.backend must be 'auto' or 'cpu', got '${resolved.backend}'`, {
      option: 'backend',
    });
  }
  const inputs = validateAttentionInputs(q, k, v, shape, { causal: resolved.causal, scale: resolved.scale });
  return turboAttentionCpu({ q, k, v, shape: inputs.shape, scale: inputs.scale, causal: inputs.causal, options: resolved });
}

/**
 * Times TurboAttention on the backend `options.backend` selects, on generated uniform [−1, 1) inputs of `shape` (the
 * contract `qattn-bench` consumes). The CPU backend uses the host clock. SAS sparsity depends on the data: uniform
 * inputs skip almost no tiles, so this times the dense path.
 *
 * @example
 * const t = await turboBenchmark({ batch: 1, heads: 8, seqQ: 1024, seqKV: 1024, headDim: 128 }, { causal: true }, { warmup: 1, repeats: 5 });
 */
export async function turboBenchmark(shape: AttentionShape, options: TurboOptions | undefined, settings: BenchmarkSettings): Promise<BenchmarkResult> {
  const resolved = resolveTurboOptions(options, shape?.seqKV);
  const resolvedShape = resolveShape(shape);
  const { scale, causal } = resolveCommonOptions({ causal: resolved.causal, scale: resolved.scale }, resolvedShape.headDim);
  const timing = resolveBenchmarkSettings(settings);
  const { backend } = await registry.resolve(resolved.backend);
  return backend.benchmark(resolvedShape, scale, causal, resolved, timing);
}
