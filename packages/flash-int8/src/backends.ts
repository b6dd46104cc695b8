import { type AttentionCall, type BackendName, BackendRegistry, type BenchmarkResult, type BenchmarkSettings, type ResolvedShape } from '@qattn/quant-core';
import { createCpuBackend } from './cpu/backend.js';
import { createCudaBackend } from './cuda/backend.js';
import { createWebGpuBackend } from './webgpu/backend.js';
import type { ResolvedFlashInt8Options } from './options.js';

/** One validated attention call, as every backend receives it. */
export type FlashInt8Call = AttentionCall<ResolvedFlashInt8Options>;

/** What a flash-int8 backend implements. Backends throw `ERR_QATTN_UNSUPPORTED` for option combinations they lack. */
export interface FlashInt8Backend {
  readonly name: BackendName;
  /** Runs one call; resolves to the output `[batch, heads, seqQ, headDim]`. Must not modify the inputs. */
  run(call: FlashInt8Call): Promise<Float32Array>;
  /**
   * Times the backend on generated inputs of `shape`: device-resident and device-timed on GPUs, host-timed on the
   * CPU. `medianMs` includes quantization; `quantMs`/`attnMs` split it where the backend can.
   */
  benchmark(
    shape: ResolvedShape,
    scale: number,
    causal: boolean,
    options: ResolvedFlashInt8Options,
    settings: Required<BenchmarkSettings>,
  ): Promise<BenchmarkResult>;
}

/** The backends of `@qattn/flash-int8`, highest priority first for `backend: 'auto'`. */
export const registry = new BackendRegistry<FlashInt8Backend>('@qattn/flash-int8');

registry.register('cuda', () => createCudaBackend(), 30);
registry.register('webgpu', () => createWebGpuBackend(), 20);
registry.register('cpu', async () => createCpuBackend(), 10);
