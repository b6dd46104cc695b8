import { QattnError } from '@qattn/quant-core';
import type { KVCacheBackend } from '../backend.js';

/** Loads the CUDA cache backend (device-resident pages, append quantized on the GPU). */
export async function loadCudaKVCacheBackend(): Promise<KVCacheBackend> {
  throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', '@qattn/kv-cache: the cuda backend is not available: the device-resident cache is not implemented yet', {
    backend: 'cuda',
  });
}
