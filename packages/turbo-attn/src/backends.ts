import {
  type AttentionCall,
  type BackendName,
  BackendRegistry,
  type BackendStatus,
  type BenchmarkResult,
  type BenchmarkSettings,
  type ResolvedShape,
} from '@qattn/quant-core';
import { createCpuBackend } from './cpu/backend.js';
import { createCudaBackend } from './cuda/backend.js';
import { createWebGpuBackend } from './webgpu/backend.js';
import type { ResolvedTurboOptions } from './options.js';

/** One validated attention call, as every backend receives it. */
export type TurboCall = AttentionCall<ResolvedTurboOptions>;

/** What a turbo-attn backend implements. Backends throw `ERR_QATTN_UNSUPPORTED` for option combinations they lack. */
export interface TurboBackend {
  readonly name: BackendName;
  /** Runs one call; resolves to the output `[batch, heads, seqQ, headDim]`. Must not modify the inputs. */
  run(call: TurboCall): Promise<Float32Array>;
  /** Times the backend on generated inputs of `shape` (the benchmark contract of `@qattn/quant-core`). */
  benchmark(shape: ResolvedShape, scale: number, causal: boolean, options: ResolvedTurboOptions, settings: Required<BenchmarkSettings>): Promise<BenchmarkResult>;
}

/** The backends of `@qattn/turbo-attn`, highest priority first for `backend: 'auto'`. */
export const registry = new BackendRegistry<TurboBackend>('@qattn/turbo-attn');

registry.register('cuda', () => createCudaBackend(), 30);
registry.register('webgpu', () => createWebGpuBackend(), 20);
registry.register('cpu', async () => createCpuBackend(), 10);

/** Probes every backend of this package: which load here, by priority, and why the others do not. */
export function turboBackends(): Promise<BackendStatus[]> {
  return registry.status();
}
