import type { DeviceTensor } from '@qattn/cuda-runtime';
import { type AttentionShape, QattnError, resolveCommonOptions, resolveShape } from '@qattn/quant-core';
import { registry } from '../backends.js';
import { type TurboOptions, resolveTurboOptions } from '../options.js';
import type { TurboCudaBackend } from './backend.js';

export { createCudaBackend, turboKernelFlags, type CudaBenchmarkResult, type TurboCudaBackend, type TurboCudaTuning } from './backend.js';

/**
 * TurboAttention (FlashQ + SAS) on CUDA device tensors: q `[batch, heads, seqQ, headDim]`, k/v `[batch, kvHeads,
 * seqKV, headDim]` as float32 {@link DeviceTensor}s of `@qattn/cuda-runtime`; resolves to a new float32 device tensor
 * of q's shape once the kernels have finished. Nothing is copied to or from the host; the caller disposes the result.
 * The options are those of `turboAttention` (`backend` must be absent, `'auto'` or `'cuda'`). Head dims and `blockN`
 * are those of @qattn/cuda-runtime's capabilities.json (64 and 128; 32 and 64), others `ERR_QATTN_UNSUPPORTED`.
 * Unlike the typed-array entry, values are not scanned on the host: NaN or ±Infinity in the inputs propagate.
 *
 * @example
 * const rt = getCudaRuntime();
 * const q = await rt.upload(qHost, 'float32', [1, 8, 4096, 128]);  // likewise k, v
 * const out = await turboAttentionDevice(q, k, v, { batch: 1, heads: 8, seqQ: 4096, seqKV: 4096, headDim: 128 }, { causal: true });
 * const host = await out.download();
 * out.dispose();
 */
export async function turboAttentionDevice(
  q: DeviceTensor,
  k: DeviceTensor,
  v: DeviceTensor,
  shape: AttentionShape,
  options?: TurboOptions,
): Promise<DeviceTensor<'float32'>> {
  const resolved = resolveTurboOptions(options, shape?.seqKV);
  if (resolved.backend !== 'auto' && resolved.backend !== 'cuda') {
    throw new QattnError('ERR_QATTN_OPTION', `turboAttentionDevice: options.backend must be 'cuda' or 'auto', got '${resolved.backend}'`, {
      option: 'backend',
    });
  }
  const resolvedShape = resolveShape(shape);
  const { scale, causal } = resolveCommonOptions({ causal: resolved.causal, scale: resolved.scale }, resolvedShape.headDim);
  const { backend } = await registry.resolve('cuda');
  return (backend as TurboCudaBackend).runDevice(q, k, v, { shape: resolvedShape, scale, causal, options: { ...resolved, backend: 'cuda' } });
}
