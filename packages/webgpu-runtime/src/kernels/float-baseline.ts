import {
  type AttentionOptions,
  type AttentionShape,
  type BenchmarkResult,
  type BenchmarkSettings,
  benchmarkData,
  LOG2E,
  median,
  QattnError,
  resolveCommonOptions,
  resolveShape,
} from '@qattn/quant-core';
import { acquireGpu, type GpuContext } from '../device.js';
import { withDeviceErrors } from '../error-scope.js';
import { WebGpuTensor } from '../tensor.js';
import { encodeFloatAttention, floatAttentionUniforms } from './attn-fwd-float.js';
import { uniformBuffer } from './dispatch.js';
import { chooseAttentionSchedule } from './schedule.js';
import { timePhases } from './timing.js';

/** Element type of the float baseline. */
export type FloatBaselineDType = 'float32' | 'float16';

function dimsOf(shape: ReturnType<typeof resolveShape>) {
  return {
    q: [shape.batch, shape.heads, shape.seqQ, shape.headDim],
    kv: [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim],
  };
}

function scheduleFor(context: GpuContext, dtype: FloatBaselineDType, headDim: number, rowsPerThread?: 1 | 2 | 4) {
  if (dtype === 'float16' && !context.capabilities.shaderF16) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', 'flash-attention float16 baseline: this adapter lacks shader-f16');
  }
  return chooseAttentionSchedule(dtype === 'float32' ? 'f32' : 'f16', headDim, { ...context.limits, software: context.software }, undefined, { rowsPerThread });
}

/**
 * Plain FlashAttention-2 forward in f32 or f16 on WebGPU (no quantization): the baseline the INT8 kernels' speed and
 * accuracy are compared with. q, k, v are device tensors of one dtype; the output has that dtype.
 */
export async function floatAttentionWebGpu(
  q: WebGpuTensor,
  k: WebGpuTensor,
  v: WebGpuTensor,
  shape: AttentionShape,
  options: AttentionOptions = {},
): Promise<WebGpuTensor> {
  const resolved = resolveShape(shape);
  const { scale, causal } = resolveCommonOptions(options, resolved.headDim);
  const { context, dtype } = q;
  if (k.dtype !== dtype || v.dtype !== dtype || k.context !== context || v.context !== context) {
    throw new QattnError('ERR_QATTN_DTYPE', 'floatAttentionWebGpu: q, k and v must share one dtype and one device');
  }
  const schedule = scheduleFor(context, dtype, resolved.headDim);
  const dims = { ...resolved, causal, smScaleLog2: scale * LOG2E };
  return withDeviceErrors(context, 'floatAttentionWebGpu', () => {
    const out = WebGpuTensor.empty(context, dimsOf(resolved).q, dtype);
    const params = uniformBuffer(context, floatAttentionUniforms(schedule, dims));
    const encoder = context.device.createCommandEncoder();
    encodeFloatAttention(context, encoder, schedule, params, { q: q.buffer, k: k.buffer, v: v.buffer, out: out.buffer }, dims);
    context.device.queue.submit([encoder.finish()]);
    params.destroy();
    return out;
  });
}

/** Times the float baseline on device-resident inputs (timestamp queries where available). */
export async function floatAttentionBenchmark(
  shape: AttentionShape,
  options: AttentionOptions & { dtype?: FloatBaselineDType; rowsPerThread?: 1 | 2 | 4 },
  settings: BenchmarkSettings,
): Promise<BenchmarkResult> {
  const context = await acquireGpu();
  const resolved = resolveShape(shape);
  const dtype = options.dtype ?? 'float32';
  const { scale, causal } = resolveCommonOptions({ causal: options.causal, scale: options.scale }, resolved.headDim);
  const schedule = scheduleFor(context, dtype, resolved.headDim, options.rowsPerThread);
  const seed = settings.seed ?? 1;
  const dims = dimsOf(resolved);
  const attentionDims = { ...resolved, causal, smScaleLog2: scale * LOG2E };
  return withDeviceErrors(context, 'floatAttentionBenchmark', async () => {
    const q = WebGpuTensor.fromArray(context, benchmarkData(resolved.qElements, seed), dims.q, dtype);
    const k = WebGpuTensor.fromArray(context, benchmarkData(resolved.kvElements, seed + 1), dims.kv, dtype);
    const v = WebGpuTensor.fromArray(context, benchmarkData(resolved.kvElements, seed + 2), dims.kv, dtype);
    const out = WebGpuTensor.empty(context, dims.q, dtype);
    const params = uniformBuffer(context, floatAttentionUniforms(schedule, attentionDims));
    try {
      const timing = await timePhases(context, 2, settings, (encoder, mark) => {
        mark(0);
        encodeFloatAttention(context, encoder, schedule, params, { q: q.buffer, k: k.buffer, v: v.buffer, out: out.buffer }, attentionDims);
        mark(1);
      });
      const bytesPerElement = dtype === 'float32' ? 4 : 2;
      return {
        backend: `webgpu-${dtype}-baseline`,
        medianMs: median(timing.totals),
        minMs: Math.min(...timing.totals),
        samplesMs: timing.totals,
        attnMs: median(timing.totals),
        peakDeviceBytes: (2 * resolved.qElements + 2 * resolved.kvElements) * bytesPerElement,
        timer: timing.timer,
      };
    } finally {
      params.destroy();
      for (const tensor of [q, k, v, out]) tensor.dispose();
    }
  });
}
