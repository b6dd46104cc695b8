import { type BackendName, BackendRegistry, QattnError, type ResolvedShape } from '@qattn/quant-core';
import { createCpuBackend } from './cpu/backend.js';
import { createCudaBackend } from './cuda/backend.js';
import { createWebGpuBackend } from './webgpu/backend.js';
import type { ResolvedFlashInt8Options } from './options.js';

/** One validated attention call, as every backend receives it. */
export interface FlashInt8Call {
  /** [batch, heads, seqQ, headDim] */
  q: Float32Array;
  /** [batch, kvHeads, seqKV, headDim] */
  k: Float32Array;
  /** [batch, kvHeads, seqKV, headDim] */
  v: Float32Array;
  shape: ResolvedShape;
  /** Softmax scale (default already applied: 1/√headDim). */
  scale: number;
  causal: boolean;
  options: ResolvedFlashInt8Options;
}

/** What a flash-int8 backend implements. Backends throw `ERR_QATTN_UNSUPPORTED` for option combinations they lack. */
export interface FlashInt8Backend {
  readonly name: BackendName;
  /** Runs one call; resolves to the output `[batch, heads, seqQ, headDim]`. Must not modify the inputs. */
  run(call: FlashInt8Call): Promise<Float32Array>;
}

/** The backends of `@qattn/flash-int8`, highest priority first for `backend: 'auto'`. */
export const registry = new BackendRegistry<FlashInt8Backend>('@qattn/flash-int8');

function notYetImplemented(name: BackendName): () => Promise<FlashInt8Backend> {
  return async () => {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `@qattn/flash-int8: the ${name} backend is not implemented yet`, { backend: name });
  };
}

registry.register('cuda', () => createCudaBackend(), 30);
registry.register('webgpu', () => createWebGpuBackend(), 20);
registry.register('cpu', async () => createCpuBackend(), 10);
