import { type AttentionOptions, type AttentionShape, LOG2E, QattnError, resolveCommonOptions, resolveShape } from '@qattn/quant-core';
import { acquireGpu, type GpuContext, WebGpuTensor, withDeviceErrors } from '@qattn/webgpu-runtime';
import { encodeFloatAttention } from './attn-fwd-float.js';
import { chooseAttentionSchedule } from './schedule.js';
import { type BenchmarkResult, type BenchmarkSettings, benchmarkData, median } from '@qattn/quant-core';
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
 * Plain FlashAttention-2 forward in f32 or f16 on WebGPU (no quantization): the baseline the INT8 kernel's speed and
 * accuracy are compared with. q, k, v are device tensors of one dtype; the output has that dtype.
 */
export async function flashAttentionFloatWebGpu(
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
    throw new QattnError('ERR_QATTN_DTYPE', 'flashAttentionFloatWebGpu: q, k and v must share one dtype and one device');
  }
  const schedule = scheduleFor(context, dtype, resolved.headDim);
  return withDeviceErrors(context, 'flashAttentionFloatWebGpu', () => {
    const out = WebGpuTensor.empty(context, dimsOf(resolved).q, dtype);
    const encoder = context.device.createCommandEncoder();
    const transient = encodeFloatAttention(context, encoder, schedule, { q: q.buffer, k: k.buffer, v: v.buffer, out: out.buffer }, {
      ...resolved,
      causal,
      smScaleLog2: scale * LOG2E,
    });
    context.device.queue.submit([encoder.finish()]);
    for (const buffer of transient) buffer.destroy();
    return out;
  });
}

/** Times the float baseline on device-resident inputs (timestamp queries where available). */
export async function flashAttentionFloatBenchmark(
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
  return withDeviceErrors(context, 'flashAttentionFloatBenchmark', async () => {
    const q = WebGpuTensor.fromArray(context, benchmarkData(resolved.qElements, seed), dims.q, dtype);
    const k = WebGpuTensor.fromArray(context, benchmarkData(resolved.kvElements, seed + 1), dims.kv, dtype);
    const v = WebGpuTensor.fromArray(context, benchmarkData(resolved.kvElements, seed + 2), dims.kv, dtype);
    const out = WebGpuTensor.empty(context, dims.q, dtype);
    try {
      const timing = await timePhases(context, 2, settings, (encoder, mark) => {
        mark(0);
        const transient = encodeFloatAttention(context, encoder, schedule, { q: q.buffer, k: k.buffer, v: v.buffer, out: out.buffer }, {
          ...resolved,
          causal,
          smScaleLog2: scale * LOG2E,
        });
        mark(1);
        return transient;
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
      for (const tensor of [q, k, v, out]) tensor.dispose();
    }
  });
}
