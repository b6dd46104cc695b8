import { getCudaRuntime } from '@qattn/cuda-runtime';
import { QattnError } from '@qattn/quant-core';
import type { KVCacheBackend } from '../backend.js';
import { loadKVCacheAddon } from './addon.js';
import { cudaUnsupportedReason } from './append-plan.js';
import { CudaKVCache } from './kv-cache-cuda.js';

export { CudaKVCache } from './kv-cache-cuda.js';
export { KV_CACHE_ADDON_ENV, loadKVCacheAddon } from './addon.js';
export { cudaUnsupportedReason } from './append-plan.js';
export { readSequenceFromStorage } from '../read-storage.js';
export { deviceBuffersOf, uploadKVCacheStorage, type CudaKVCacheStorage, type CudaKVTensorStorage, type CudaPagePoolStorage } from './device-storage.js';

/**
 * Loads the CUDA cache backend (device-resident pages, append quantized on the GPU). `ERR_QATTN_BACKEND_UNAVAILABLE`
 * when the runtime or this package's addon cannot load (no device, not built: the message names the build command).
 */
export async function loadCudaKVCacheBackend(): Promise<KVCacheBackend> {
  const runtime = getCudaRuntime();
  const addon = loadKVCacheAddon();
  return {
    create: (config) => {
      const reason = cudaUnsupportedReason(config);
      if (reason) throw new QattnError('ERR_QATTN_UNSUPPORTED', `createKVCache: the cuda backend cannot hold this cache: ${reason}`, { backend: 'cuda' });
      return CudaKVCache.create(config, runtime, addon);
    },
  };
}
