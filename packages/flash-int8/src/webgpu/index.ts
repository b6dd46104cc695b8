/// <reference types="@webgpu/types" />
import { type AttentionShape, QattnError, resolveCommonOptions, resolveShape } from '@qattn/quant-core';
import { checkDeviceInputs, quantizedAttentionOnDevice, type WebGpuTensor } from '@qattn/webgpu-runtime';
import { type FlashInt8Options, resolveFlashInt8Options } from '../options.js';
import { type FlashInt8WebGpuOptions, flashInt8WebGpuRequest } from './path.js';

export { createWebGpuBackend, type WebGpuFlashInt8Backend } from './backend.js';
export { flashInt8Variant } from './variant.js';
export { type FlashInt8WebGpuOptions, type FlashInt8WebGpuPath, flashInt8MatrixPath } from './path.js';
export {
  chooseInt8MatrixPath,
  type Int8MatrixPath,
  type MatrixShape,
  type SubgroupMatrixDevice,
  type SubgroupMatrixProblem,
  type SubgroupMatrixSchedule,
} from './subgroup-matrix-schedule.js';
export { int8SubgroupMatrixSource, type SubgroupMatrixKernel } from './attn_fwd_int8_sgmat.wgsl.js';
export {
  floatAttentionBenchmark as flashAttentionFloatBenchmark,
  floatAttentionWebGpu as flashAttentionFloatWebGpu,
  type FloatBaselineDType,
  chooseAttentionSchedule,
  int8Preferences,
  isSupportedHeadDim,
  type AttentionArithmetic,
  type AttentionSchedule,
  type ScheduleLimits,
  type ScheduleOverrides,
  type ScheduleProblem,
  type WebGpuRunOptions,
} from '@qattn/webgpu-runtime';

/**
 * INT-FlashAttention on device-resident tensors: q `[batch, heads, seqQ, headDim]`, k and v `[batch, kvHeads, seqKV,
 * headDim]`, float32 {@link WebGpuTensor}s of one device (from `WebGpuTensor.fromArray`, or a caller's buffers through
 * `WebGpuTensor.fromBuffer`). Returns a new tensor (float32, or float16 with `outputDType` on shader-f16 devices)
 * without waiting for the GPU or copying to the host, so attention layers chain on the device; `dispose()` it when done.
 * The algorithm options are those of `flashInt8Attention` (`backend` must be absent, `'auto'` or `'webgpu'`); `run`
 * picks the output type and opts in to the experimental subgroup-matrix kernel ({@link FlashInt8WebGpuOptions}).
 *
 * Unlike the typed-array entry, values are not scanned on the host: NaN or ±Infinity in the inputs propagate.
 *
 * @example
 * const gpu = await acquireGpu();
 * const q = WebGpuTensor.fromArray(gpu, qData, [1, 8, 1024, 128]);            // likewise k, v
 * const out = await flashInt8AttentionWebGpu(q, k, v, { batch: 1, heads: 8, seqQ: 1024, seqKV: 1024, headDim: 128 });
 * const host = await out.toArray();
 * out.dispose();
 */
export async function flashInt8AttentionWebGpu(
  q: WebGpuTensor,
  k: WebGpuTensor,
  v: WebGpuTensor,
  shape: AttentionShape,
  options?: FlashInt8Options,
  run: Pick<FlashInt8WebGpuOptions, 'outputDType' | 'subgroupMatrix'> = {},
): Promise<WebGpuTensor> {
  const resolved = resolveFlashInt8Options(options, shape?.headDim);
  if (resolved.backend !== 'auto' && resolved.backend !== 'webgpu') {
    throw new QattnError('ERR_QATTN_OPTION', `flashInt8AttentionWebGpu: options.backend must be 'webgpu' or 'auto', got '${resolved.backend}'`, {
      option: 'backend',
    });
  }
  const resolvedShape = resolveShape(shape);
  const { scale, causal } = resolveCommonOptions({ causal: resolved.causal, scale: resolved.scale }, resolvedShape.headDim);
  const context = checkDeviceInputs('flashInt8AttentionWebGpu', q, k, v, resolvedShape);
  const { request } = flashInt8WebGpuRequest(context, { shape: resolvedShape, scale, causal, options: resolved }, run);
  return quantizedAttentionOnDevice('flashInt8AttentionWebGpu', context, request, { q, k, v });
}
