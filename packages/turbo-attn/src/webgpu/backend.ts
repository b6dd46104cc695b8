import { acquireGpu, benchmarkQuantizedAttention, type GpuContext, quantizedAttentionOnArrays, type WebGpuRunOptions } from '@qattn/webgpu-runtime';
import type { TurboBackend, TurboCall } from '../backends.js';
import { assertTurboCallRanges } from '../input-ranges.js';
import { turboPlanRequest } from './variant.js';

/** The turbo-attn WebGPU backend: the typed-array entry of the registry plus its benchmark. */
export interface WebGpuTurboBackend extends TurboBackend {
  /** The device context the last call used (a lost device is replaced on the next call). */
  context(): Promise<GpuContext>;
}

/**
 * Creates the backend. Probing acquires the device once, so `backend: 'auto'` falls back to the CPU (and reports why)
 * when this machine has no adapter; later calls re-acquire, which replaces a lost device. Plans and their workspaces
 * are cached per device and call shape (`@qattn/webgpu-runtime`'s plan cache), so repeated calls allocate nothing.
 */
export async function createWebGpuBackend(run: WebGpuRunOptions = {}): Promise<WebGpuTurboBackend> {
  await acquireGpu();
  return {
    name: 'webgpu',
    context: () => acquireGpu(),
    async run(call: TurboCall): Promise<Float32Array> {
      // Same input contract as the CPU oracle: logits must fit float32 (the kernel computes them in f32).
      assertTurboCallRanges(call);
      const context = await acquireGpu();
      return quantizedAttentionOnArrays('turboAttention (webgpu)', context, turboPlanRequest(call, run), call);
    },
    async benchmark(shape, scale, causal, options, settings) {
      const context = await acquireGpu();
      return benchmarkQuantizedAttention('turboBenchmark (webgpu)', context, turboPlanRequest({ shape, scale, causal, options }, run), settings);
    },
  };
}
