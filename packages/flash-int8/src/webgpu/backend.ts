import { type BenchmarkResult, type BenchmarkSettings, type ResolvedShape } from '@qattn/quant-core';
import { acquireGpu, benchmarkQuantizedAttention, type GpuContext, quantizedAttentionOnArrays } from '@qattn/webgpu-runtime';
import type { FlashInt8Backend, FlashInt8Call } from '../backends.js';
import type { ResolvedFlashInt8Options } from '../options.js';
import { type FlashInt8WebGpuOptions, type FlashInt8WebGpuPath, flashInt8WebGpuRequest } from './path.js';

/** The flash-int8 WebGPU backend: the typed-array entry of the registry plus its benchmark. */
export interface WebGpuFlashInt8Backend extends FlashInt8Backend {
  /**
   * Times the call on device-resident inputs (quantization included in `medianMs`; `quantMs`, `attnMs` apart), and
   * says which kernel ran (`path`, and `pathNote` when the subgroup-matrix kernel was asked for but could not run).
   * Same signature as the CUDA backend's, so the package's `flashInt8Benchmark` dispatches to either.
   */
  benchmark(
    shape: ResolvedShape,
    scale: number,
    causal: boolean,
    options: ResolvedFlashInt8Options,
    settings: BenchmarkSettings,
  ): Promise<BenchmarkResult & FlashInt8WebGpuPath>;
  /** The kernel a call would run on the current device, and why not the subgroup-matrix one where it was asked for. */
  path(call: Pick<FlashInt8Call, 'shape' | 'scale' | 'causal' | 'options'>): Promise<FlashInt8WebGpuPath>;
  /** The device context the last call used (a lost device is replaced on the next call). */
  context(): Promise<GpuContext>;
}

/**
 * Creates the backend. Probing acquires the device once, so `registry.resolve('auto')` falls back (and reports why)
 * when this machine has no adapter. Later calls re-acquire, which replaces a lost device. Plans and their workspaces
 * are cached per device and call shape (`@qattn/webgpu-runtime`'s plan cache), so repeated calls allocate nothing.
 */
export async function createWebGpuBackend(run: FlashInt8WebGpuOptions = {}): Promise<WebGpuFlashInt8Backend> {
  await acquireGpu();
  return {
    name: 'webgpu',
    context: () => acquireGpu(),
    async run(call: FlashInt8Call): Promise<Float32Array> {
      const context = await acquireGpu();
      return quantizedAttentionOnArrays('flashInt8Attention (webgpu)', context, flashInt8WebGpuRequest(context, call, run).request, call);
    },
    async benchmark(shape, scale, causal, options, settings) {
      const context = await acquireGpu();
      const { request, path } = flashInt8WebGpuRequest(context, { shape, scale, causal, options }, run);
      return { ...(await benchmarkQuantizedAttention('flashInt8Benchmark (webgpu)', context, request, settings)), ...path };
    },
    async path(call) {
      return flashInt8WebGpuRequest(await acquireGpu(), call, run).path;
    },
  };
}
