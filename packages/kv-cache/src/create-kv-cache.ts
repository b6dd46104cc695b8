import { BackendRegistry, type BackendStatus } from '@qattn/quant-core';
import type { KVCacheBackend } from './backend.js';
import { CpuKVCache } from './cpu/kv-cache-cpu.js';
import { loadCudaKVCacheBackend } from './cuda/index.js';
import type { KVCache } from './kv-cache.js';
import { type KVCacheOptions, resolveKVCacheOptions } from './options.js';
import { loadWebGpuKVCacheBackend } from './webgpu/index.js';

const registry = new BackendRegistry<KVCacheBackend>('@qattn/kv-cache');

// 'auto' as for attention: cuda, then webgpu, then cpu — except a webgpu cache on a software adapter (lavapipe,
// SwiftShader), where compiling and running its kernels costs more than the cpu cache: 'auto' passes it over there.
const skipInAuto = (backend: KVCacheBackend) => backend.autoSkipReason;
registry.register('cuda', loadCudaKVCacheBackend, 30);
registry.register('webgpu', loadWebGpuKVCacheBackend, 20, { skipInAuto });
registry.register('cpu', async () => ({ create: (config) => new CpuKVCache(config) }), 10);

/**
 * Creates a quantized, paged KV cache for `batch` sequences of `kvHeads` heads of `headDim` channels: TurboAttention's
 * progressive INT4 (optionally INT2 per head) pages with integer per-channel (K) / per-token (V) step and zero and an
 * INT8 block scale, an INT8 buffer for the newest tokens, float32 attention-sink tokens and a Hadamard rotation —
 * the defaults the README's layout table chose. `turboDecode` (`@qattn/turbo-attn`) runs attention over it.
 *
 * Backends: `cpu` (the oracle, float32 arrays), `cuda` (pages in device memory, append quantized by kernels; append
 * and clear return promises, read with `readAsync`), `webgpu` (the same in GPU buffers; no decode kernel reads it yet,
 * so `'auto'` takes `cuda` where it loads, else `cpu`).
 *
 * Rejects with `ERR_QATTN_SHAPE` (shape), `ERR_QATTN_OPTION` (options), `ERR_QATTN_UNSUPPORTED` (a shape the device
 * layout cannot pack), `ERR_QATTN_BACKEND_UNAVAILABLE` (the backend cannot run here; the message says why).
 *
 * @example
 * const cache = await createKVCache({ batch: 1, kvHeads: 8, headDim: 128 });
 * cache.append(k, v);              // k, v: Float32Array [1, 8, tokens, 128]
 * cache.memory().compressionRatio; // ≈ 3.8 against fp16 for long sequences
 */
export async function createKVCache(options: KVCacheOptions): Promise<KVCache> {
  const config = resolveKVCacheOptions(options);
  const { name, backend } = await registry.resolve(config.backend);
  return backend.create({ ...config, backend: name });
}

/** Every backend of the cache by priority, whether it loads here and why not. */
export function kvCacheBackends(): Promise<BackendStatus[]> {
  return registry.status();
}
