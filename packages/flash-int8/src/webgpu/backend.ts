import { type BenchmarkResult, type BenchmarkSettings, type ResolvedShape } from '@qattn/quant-core';
import { acquireGpu, benchmarkQuantizedAttention, type GpuContext, quantizedAttentionOnArrays, type WebGpuRunOptions } from '@qattn/webgpu-runtime';
import type { FlashInt8Backend, FlashInt8Call } from '../backends.js';
import type { ResolvedFlashInt8Options } from '../options.js';
import { flashInt8PlanRequest } from './variant.js';

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
 * when this machine has no adapter. Later calls re-acquire, which replaces a lost device. Plans and their workspaces
 * are cached per device and call shape (`@qattn/webgpu-runtime`'s plan cache), so repeated calls allocate nothing.
 */
export async function createWebGpuBackend(run: WebGpuRunOptions = {}): Promise<WebGpuFlashInt8Backend> {
  await acquireGpu();
  return {
    name: 'webgpu',
    context: () => acquireGpu(),
    async run(call: FlashInt8Call): Promise<Float32Array> {
      const context = await acquireGpu();
      return quantizedAttentionOnArrays('flashInt8Attention (webgpu)', context, flashInt8PlanRequest(call, run), call);
    },
    async benchmark(shape, scale, causal, options, settings): Promise<BenchmarkResult> {
      const context = await acquireGpu();
      return benchmarkQuantizedAttention('flashInt8Benchmark (webgpu)', context, flashInt8PlanRequest({ shape, scale, causal, options }, run), settings);
    },
  };
}
