/// <reference types="@webgpu/types" />
import type { KVCache, WebGpuKVCacheStorage } from '@qattn/kv-cache';
import { QattnError } from '@qattn/quant-core';

/** A cache decode runs on with WebGPU: `backend === 'webgpu'` and its device storage (kv-cache's `WebGpuKVCache`). */
export type WebGpuDecodableCache = KVCache & { storageOnDevice(): WebGpuKVCacheStorage };

/**
 * The device buffers of a webgpu cache (kv-cache's `WebGpuKVCacheStorage`: the CPU layout in GPU buffers), or
 * `ERR_QATTN_BACKEND_UNAVAILABLE` when the cache does not expose them. Valid until the cache's next append or clear.
 */
export function webGpuStorageOf(cache: KVCache): WebGpuKVCacheStorage {
  const candidate = cache as Partial<WebGpuDecodableCache>;
  if (cache.backend !== 'webgpu' || typeof candidate.storageOnDevice !== 'function') {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', 'turboDecode webgpu: the cache has no storageOnDevice() (not a webgpu cache of @qattn/kv-cache)', {
      backend: cache.backend,
    });
  }
  return candidate.storageOnDevice();
}
