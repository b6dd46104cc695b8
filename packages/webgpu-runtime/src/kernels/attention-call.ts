import { Float16Array } from '@petamoriken/float16';
import { type BenchmarkResult, type BenchmarkSettings, benchmarkData, isQattnError, median, QattnError, type ResolvedShape, unsharedView } from '@qattn/quant-core';
import { MapMode } from '../constants.js';
import type { GpuContext } from '../device.js';
import { withDeviceErrors } from '../error-scope.js';
import { WebGpuTensor } from '../tensor.js';
import { type AttentionPlanRequest, attentionPlanKey, encodeAttention, encodeQuantization } from './attention-plan.js';
import { cachedAttentionPlan, dropAttentionPlan } from './plan-cache.js';
import { timePhases } from './timing.js';

/**
 * Checks device-resident q `[batch, heads, seqQ, headDim]`, k and v `[batch, kvHeads, seqKV, headDim]`: float32
 * {@link WebGpuTensor}s of `shape`'s sizes on one device. Throws `ERR_QATTN_DTYPE`, `ERR_QATTN_SHAPE` or
 * `ERR_QATTN_OPTION` naming the tensor; returns the device's context.
 */
export function checkDeviceInputs(operation: string, q: WebGpuTensor, k: WebGpuTensor, v: WebGpuTensor, shape: ResolvedShape): GpuContext {
  const expected: Array<[string, WebGpuTensor, number]> = [
    ['q', q, shape.qElements],
    ['k', k, shape.kvElements],
    ['v', v, shape.kvElements],
  ];
  for (const [name, tensor, elements] of expected) {
    if (tensor?.location !== 'webgpu') throw new QattnError('ERR_QATTN_DTYPE', `${operation}: ${name} must be a WebGpuTensor`, { tensor: name });
    if (tensor.dtype !== 'float32') throw new QattnError('ERR_QATTN_DTYPE', `${operation}: ${name} must be float32, got ${tensor.dtype}`, { tensor: name });
    if (tensor.size !== elements) {
      throw new QattnError('ERR_QATTN_SHAPE', `${operation}: ${name} has ${tensor.size} elements but the shape needs ${elements}`, { tensor: name });
    }
    if (tensor.context.device !== q.context.device) {
      throw new QattnError('ERR_QATTN_OPTION', `${operation}: ${name} lives on another device than q`, { tensor: name });
    }
  }
  return q.context;
}

/**
 * Runs quantized attention on device-resident tensors (checked with {@link checkDeviceInputs}) through the cached plan
 * of `request`, and returns a new output tensor `[batch, heads, seqQ, headDim]` (float32, or float16 per
 * `request.run.outputDType`) without waiting for the GPU, so layers chain on the device. Device errors and a lost
 * device reject with `ERR_QATTN_DEVICE` naming `operation`; a disposed input with `ERR_QATTN_DISPOSED`.
 */
export async function quantizedAttentionOnDevice(
  operation: string,
  context: GpuContext,
  request: AttentionPlanRequest,
  inputs: { q: WebGpuTensor; k: WebGpuTensor; v: WebGpuTensor },
): Promise<WebGpuTensor> {
  return withPlanErrors(context, operation, request, () => {
    const { plan, workspace } = cachedAttentionPlan(context, request);
    const { shape } = plan;
    const buffers = { q: inputs.q.buffer, k: inputs.k.buffer, v: inputs.v.buffer };
    const out = WebGpuTensor.empty(context, [shape.batch, shape.heads, shape.seqQ, shape.headDim], plan.kernel.outputF16 ? 'float16' : 'float32');
    try {
      const encoder = context.device.createCommandEncoder({ label: operation });
      encodeQuantization(context, encoder, plan, workspace, buffers);
      encodeAttention(context, encoder, plan, workspace, out.buffer);
      context.device.queue.submit([encoder.finish()]);
    } catch (err) {
      out.dispose();
      throw err;
    }
    return out;
  });
}

/**
 * Runs quantized attention on host arrays through the cached plan of `request`: uploads q, k, v into the plan's
 * buffers, runs, and reads the output back as float32. The arrays are not modified.
 */
export async function quantizedAttentionOnArrays(
  operation: string,
  context: GpuContext,
  request: AttentionPlanRequest,
  arrays: { q: Float32Array; k: Float32Array; v: Float32Array },
): Promise<Float32Array> {
  return withPlanErrors(context, operation, request, async () => {
    const entry = cachedAttentionPlan(context, request);
    const { plan, workspace } = entry;
    const io = entry.claimIo();
    let broken = true;
    try {
      const { queue } = context.device;
      // Dawn's writeBuffer in Node crashes the process on a view over a SharedArrayBuffer (and rejects the buffer
      // itself): such arrays go up as private copies.
      queue.writeBuffer(io.q, 0, unsharedView(arrays.q));
      queue.writeBuffer(io.k, 0, unsharedView(arrays.k));
      queue.writeBuffer(io.v, 0, unsharedView(arrays.v));
      const encoder = context.device.createCommandEncoder({ label: operation });
      encodeQuantization(context, encoder, plan, workspace, io);
      encodeAttention(context, encoder, plan, workspace, io.out);
      encoder.copyBufferToBuffer(io.out, 0, io.readback, 0, io.readback.size);
      queue.submit([encoder.finish()]);
      await io.readback.mapAsync(MapMode.READ);
      const bytes = io.readback.getMappedRange();
      const out = plan.kernel.outputF16 ? Float32Array.from(new Float16Array(bytes, 0, plan.shape.qElements)) : new Float32Array(bytes.slice(0, plan.shape.qElements * 4));
      io.readback.unmap();
      broken = false;
      return out;
    } finally {
      entry.releaseIo(io, broken);
    }
  });
}

/**
 * Times quantized attention on device-resident generated inputs (uniform [−1, 1), `settings.seed`) through the cached
 * plan of `request`: `medianMs` includes the quantization pre-pass; with timestamp queries `quantMs` and `attnMs`
 * split it. The quant-core benchmark contract.
 */
export async function benchmarkQuantizedAttention(
  operation: string,
  context: GpuContext,
  request: AttentionPlanRequest,
  settings: BenchmarkSettings,
  backend = 'webgpu',
): Promise<BenchmarkResult> {
  const seed = settings.seed ?? 1;
  const { shape } = request;
  return withPlanErrors(context, operation, request, async () => {
    const { plan, workspace } = cachedAttentionPlan(context, request);
    const kvDims = [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim];
    const qDims = [shape.batch, shape.heads, shape.seqQ, shape.headDim];
    const q = WebGpuTensor.fromArray(context, benchmarkData(shape.qElements, seed), qDims);
    const k = WebGpuTensor.fromArray(context, benchmarkData(shape.kvElements, seed + 1), kvDims);
    const v = WebGpuTensor.fromArray(context, benchmarkData(shape.kvElements, seed + 2), kvDims);
    const out = WebGpuTensor.empty(context, qDims, plan.kernel.outputF16 ? 'float16' : 'float32');
    try {
      const inputs = { q: q.buffer, k: k.buffer, v: v.buffer };
      const timing = await timePhases(context, 3, settings, (encoder, mark) => {
        mark(0);
        encodeQuantization(context, encoder, plan, workspace, inputs);
        mark(1);
        encodeAttention(context, encoder, plan, workspace, out.buffer);
        mark(2);
      });
      const ioBytes = (2 * shape.qElements + 2 * shape.kvElements) * 4;
      return {
        backend,
        medianMs: median(timing.totals),
        minMs: Math.min(...timing.totals),
        samplesMs: timing.totals,
        ...(timing.timer === 'timestamp-query' ? { quantMs: median(timing.phases[0]), attnMs: median(timing.phases[1]) } : {}),
        peakDeviceBytes: ioBytes + workspace.bytes,
        timer: timing.timer,
      };
    } finally {
      for (const tensor of [q, k, v, out]) tensor.dispose();
    }
  });
}

/** {@link withDeviceErrors}, and a device error also evicts the request's cached plan (see `dropAttentionPlan`). */
async function withPlanErrors<T>(context: GpuContext, operation: string, request: AttentionPlanRequest, work: () => Promise<T> | T): Promise<T> {
  try {
    return await withDeviceErrors(context, operation, work);
  } catch (err) {
    if (isQattnError(err, 'ERR_QATTN_DEVICE')) dropAttentionPlan(context.device, attentionPlanKey(request));
    throw err;
  }
}
