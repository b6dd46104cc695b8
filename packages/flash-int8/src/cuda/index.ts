import type { DeviceTensor } from '@qattn/cuda-runtime';
import { type AttentionShape, resolveCommonOptions, resolveShape } from '@qattn/quant-core';
import { registry } from '../backends.js';
import { type FlashInt8Options, resolveFlashInt8Options } from '../options.js';
import type { FlashInt8CudaBackend } from './backend.js';

export { createCudaBackend, type CudaBenchmarkResult, type FlashInt8CudaBackend } from './backend.js';

/**
 * Device-resident INT-FlashAttention: q `[batch, heads, seqQ, headDim]`, k/v `[batch, kvHeads, seqKV, headDim]` as
 * float32 {@link DeviceTensor}s of `@qattn/cuda-runtime`; resolves to a new float32 device tensor of q's shape once the
 * kernels have finished. Nothing is copied to or from the host; the caller disposes the result.
 *
 * @example
 * const rt = getCudaRuntime();
 * const q = await rt.upload(qHost, 'float32', [1, 8, 4096, 128]);  // likewise k, v
 * const out = await flashInt8AttentionDevice(q, k, v, { batch: 1, heads: 8, seqQ: 4096, seqKV: 4096, headDim: 128 }, { causal: true });
 * const host = await out.download();
 * out.dispose();
 */
export async function flashInt8AttentionDevice(
  q: DeviceTensor,
  k: DeviceTensor,
  v: DeviceTensor,
  shape: AttentionShape,
  options?: Omit<FlashInt8Options, 'backend'>,
): Promise<DeviceTensor<'float32'>> {
  const resolved = resolveFlashInt8Options({ ...options, backend: 'cuda' }, shape?.headDim);
  const resolvedShape = resolveShape(shape);
  const { scale, causal } = resolveCommonOptions({ causal: resolved.causal, scale: resolved.scale }, resolvedShape.headDim);
  const { backend } = await registry.resolve('cuda');
  return (backend as FlashInt8CudaBackend).runDevice(q, k, v, { shape: resolvedShape, scale, causal, options: resolved });
}
