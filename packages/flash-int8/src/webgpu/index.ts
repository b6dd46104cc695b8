/// <reference types="@webgpu/types" />
import { type AttentionShape, QattnError, resolveCommonOptions, resolveShape } from '@qattn/quant-core';
import { type WebGpuTensor, withDeviceErrors } from '@qattn/webgpu-runtime';
import { type FlashInt8Options, resolveFlashInt8Options } from '../options.js';
import { planFlashInt8, runFlashInt8OnDevice, type WebGpuRunOptions } from './flash-int8-webgpu.js';

export { createWebGpuBackend, type WebGpuFlashInt8Backend } from './backend.js';
export { flashAttentionFloatBenchmark, flashAttentionFloatWebGpu, type FloatBaselineDType } from './baseline.js';
export {
  chooseAttentionSchedule,
  int8Preferences,
  isSupportedHeadDim,
  type AttentionArithmetic,
  type AttentionSchedule,
  type ScheduleLimits,
  type ScheduleOverrides,
  type ScheduleProblem,
} from './schedule.js';
export type { WebGpuRunOptions } from './flash-int8-webgpu.js';

/**
 * INT-FlashAttention on device-resident tensors: q `[batch, heads, seqQ, headDim]`, k and v `[batch, kvHeads, seqKV,
 * headDim]`, float32 {@link WebGpuTensor}s of one device (from `WebGpuTensor.fromArray`, or a caller's buffers through
 * `WebGpuTensor.fromBuffer`). Returns a new tensor (float32, or float16 with `outputDType` on shader-f16 devices)
 * without waiting for the GPU or copying to the host, so attention layers chain on the device; `dispose()` it when done.
 * The algorithm options are those of `flashInt8Attention` (`backend` must be absent, `'auto'` or `'webgpu'`).
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
  run: Pick<WebGpuRunOptions, 'outputDType'> = {},
): Promise<WebGpuTensor> {
  const resolved = resolveFlashInt8Options(options, shape?.headDim);
  if (resolved.backend !== 'auto' && resolved.backend !== 'webgpu') {
    throw new QattnError('ERR_QATTN_OPTION', `flashInt8AttentionWebGpu: options.backend must be 'webgpu' or 'auto', got '${resolved.backend}'`, {
      option: 'backend',
    });
  }
  const resolvedShape = resolveShape(shape);
  const { scale, causal } = resolveCommonOptions({ causal: resolved.causal, scale: resolved.scale }, resolvedShape.headDim);
  const expected: Array<[string, WebGpuTensor, number]> = [
    ['q', q, resolvedShape.qElements],
    ['k', k, resolvedShape.kvElements],
    ['v', v, resolvedShape.kvElements],
  ];
  for (const [name, tensor, elements] of expected) {
    if (tensor?.location !== 'webgpu') throw new QattnError('ERR_QATTN_DTYPE', `${name} must be a WebGpuTensor`, { tensor: name });
    if (tensor.dtype !== 'float32') throw new QattnError('ERR_QATTN_DTYPE', `${name} must be float32, got ${tensor.dtype}`, { tensor: name });
    if (tensor.size !== elements) {
      throw new QattnError('ERR_QATTN_SHAPE', `${name} has ${tensor.size} elements but the shape needs ${elements}`, { tensor: name });
    }
    if (tensor.context.device !== q.context.device) {
      throw new QattnError('ERR_QATTN_OPTION', `${name} lives on another device than q`, { tensor: name });
    }
  }
  const context = q.context;
  const plan = planFlashInt8(context, resolvedShape, scale, causal, resolved, run);
  return withDeviceErrors(context, 'flashInt8AttentionWebGpu', () => runFlashInt8OnDevice(context, plan, { q, k, v }));
}
