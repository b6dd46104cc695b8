import type { ResolvedShape } from '@qattn/quant-core';
import { acquireGpu, type GpuContext, WebGpuTensor, withDeviceErrors } from '@qattn/webgpu-runtime';
import type { FlashInt8Backend, FlashInt8Call } from '../backends.js';
import type { ResolvedFlashInt8Options } from '../options.js';
import {
  allocateWorkspace,
  encodeAttention,
  encodeQuantization,
  planFlashInt8,
  runFlashInt8OnDevice,
  type WebGpuRunOptions,
} from './flash-int8-webgpu.js';
import { type BenchmarkResult, type BenchmarkSettings, benchmarkData, median } from '@qattn/quant-core';
import { timePhases } from './timing.js';

/** The largest finite float16: `pv: 'fp16'` stores V in f16. */

/** The flash-int8 WebGPU backend: the typed-array entry of the registry plus its benchmark. */
export interface WebGpuFlashInt8Backend extends FlashInt8Backend {
  /**
   * Times the call on device-resident inputs (quantization included in `medianMs`; `quantMs`, `attnMs` apart). Same
   * signature as the CUDA backend's, so the package's `flashInt8Benchmark` dispatches to either through the registry.
   */
  benchmark(
    shape: ResolvedShape,
    scale: number,
    causal: boolean,
    options: ResolvedFlashInt8Options,
    settings: BenchmarkSettings,
  ): Promise<BenchmarkResult>;
  /** The device context the last call used (a lost device is replaced on the next call). */
  context(): Promise<GpuContext>;
}

/**
 * Creates the backend. Probing acquires the device once, so `registry.resolve('auto')` falls back (and reports why)
 * when this machine has no adapter. Later calls re-acquire, which replaces a lost device.
 */
export async function createWebGpuBackend(run: WebGpuRunOptions = {}): Promise<WebGpuFlashInt8Backend> {
  await acquireGpu();
  return {
    name: 'webgpu',
    context: () => acquireGpu(),
    async run(call: FlashInt8Call): Promise<Float32Array> {
      const context = await acquireGpu();
      const plan = planFlashInt8(context, call.shape, call.scale, call.causal, call.options, run);
      const { shape } = call;
      return withDeviceErrors(context, 'flashInt8Attention (webgpu)', async () => {
        const kvDims = [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim];
        const q = WebGpuTensor.fromArray(context, call.q, [shape.batch, shape.heads, shape.seqQ, shape.headDim]);
        const k = WebGpuTensor.fromArray(context, call.k, kvDims);
        const v = WebGpuTensor.fromArray(context, call.v, kvDims);
        let out: WebGpuTensor | undefined;
        try {
          out = runFlashInt8OnDevice(context, plan, { q, k, v });
          return await out.toArray();
        } finally {
          for (const tensor of [q, k, v, out]) tensor?.dispose();
        }
      });
    },
    async benchmark(resolvedShape, scale, causal, options, settings): Promise<BenchmarkResult> {
      const context = await acquireGpu();
      const plan = planFlashInt8(context, resolvedShape, scale, causal, options, run);
      const seed = settings.seed ?? 1;
      return withDeviceErrors(context, 'flashInt8Benchmark (webgpu)', async () => {
        const kvDims = [resolvedShape.batch, resolvedShape.kvHeads, resolvedShape.seqKV, resolvedShape.headDim];
        const qDims = [resolvedShape.batch, resolvedShape.heads, resolvedShape.seqQ, resolvedShape.headDim];
        const q = WebGpuTensor.fromArray(context, benchmarkData(resolvedShape.qElements, seed), qDims);
        const k = WebGpuTensor.fromArray(context, benchmarkData(resolvedShape.kvElements, seed + 1), kvDims);
        const v = WebGpuTensor.fromArray(context, benchmarkData(resolvedShape.kvElements, seed + 2), kvDims);
        const out = WebGpuTensor.empty(context, qDims, plan.variant.outputF16 ? 'float16' : 'float32');
        const workspace = allocateWorkspace(context, plan);
        try {
          const inputs = { q: q.buffer, k: k.buffer, v: v.buffer };
          const timing = await timePhases(context, 3, settings, (encoder, mark) => {
            mark(0);
            const transient = encodeQuantization(context, encoder, plan, workspace, inputs);
            mark(1);
            transient.push(...encodeAttention(context, encoder, plan, workspace, out.buffer));
            mark(2);
            return transient;
          });
          const ioBytes = (2 * resolvedShape.qElements + 2 * resolvedShape.kvElements) * 4;
          return {
            backend: 'webgpu',
            medianMs: median(timing.totals),
            minMs: Math.min(...timing.totals),
            samplesMs: timing.totals,
            ...(timing.timer === 'timestamp-query' ? { quantMs: median(timing.phases[0]), attnMs: median(timing.phases[1]) } : {}),
            peakDeviceBytes: ioBytes + workspace.bytes,
            timer: timing.timer,
          };
        } finally {
          workspace.destroy();
          for (const tensor of [q, k, v, out]) tensor.dispose();
        }
      });
    },
  };
}
