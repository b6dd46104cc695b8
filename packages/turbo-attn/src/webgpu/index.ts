/// <reference types="@webgpu/types" />
import { type AttentionShape, QattnError, resolveCommonOptions, resolveShape } from '@qattn/quant-core';
import { checkDeviceInputs, quantizedAttentionOnDevice, type WebGpuRunOptions, type WebGpuTensor } from '@qattn/webgpu-runtime';
import { type TurboOptions, resolveTurboOptions } from '../options.js';
import { turboPlanRequest } from './variant.js';

export { createWebGpuBackend, type WebGpuTurboBackend } from './backend.js';
export { turboWebGpuVariant } from './variant.js';

/**
 * TurboAttention (FlashQ + SAS) on device-resident tensors: q `[batch, heads, seqQ, headDim]`, k and v `[batch,
 * kvHeads, seqKV, headDim]`, float32 {@link WebGpuTensor}s of one device (`WebGpuTensor.fromArray`, or a caller's
 * buffers through `WebGpuTensor.fromBuffer`). Returns a new tensor (float32, or float16 with `outputDType` on
 * shader-f16 devices) without waiting for the GPU or copying to the host, so layers chain on the device; `dispose()`
 * it when done. The options are those of `turboAttention` (`backend` must be absent, `'auto'` or `'webgpu'`).
 * Head dims: multiples of 16 from 32 to 256, others `ERR_QATTN_UNSUPPORTED`; `blockN` must be a multiple of the
 * kernel's key tile (64 by default).
 *
 * Unlike the typed-array entry, values are not scanned on the host: NaN or ±Infinity in the inputs propagate.
 *
 * @example
 * const gpu = await acquireGpu();
 * const q = WebGpuTensor.fromArray(gpu, qData, [1, 8, 1024, 128]);            // likewise k, v
 * const out = await turboAttentionWebGpu(q, k, v, { batch: 1, heads: 8, seqQ: 1024, seqKV: 1024, headDim: 128 }, { causal: true });
 * const host = await out.toArray();
 * out.dispose();
 */
export async function turboAttentionWebGpu(
  q: WebGpuTensor,
  k: WebGpuTensor,
  v: WebGpuTensor,
  shape: AttentionShape,
  options?: TurboOptions,
  run: Pick<WebGpuRunOptions, 'outputDType'> = {},
): Promise<WebGpuTensor> {
  const resolved = resolveTurboOptions(options, shape?.seqKV);
  if (resolved.backend !== 'auto' && resolved.backend !== 'webgpu') {
    throw new QattnError('ERR_QATTN_OPTION', `turboAttentionWebGpu: options.backend must be 'webgpu' or 'auto', got '${resolved.backend}'`, {
      option: 'backend',
    });
  }
  const resolvedShape = resolveShape(shape);
  const { scale, causal } = resolveCommonOptions({ causal: resolved.causal, scale: resolved.scale }, resolvedShape.headDim);
  const context = checkDeviceInputs('turboAttentionWebGpu', q, k, v, resolvedShape);
  return quantizedAttentionOnDevice('turboAttentionWebGpu', context, turboPlanRequest({ shape: resolvedShape, scale, causal, options: resolved }, run), { q, k, v });
}
