import { QattnError } from '@qattn/quant-core';
import type { KVCacheBackend } from '../backend.js';

/** Loads the WebGPU cache backend (pages in GPU buffers, append quantized by compute shaders). */
export async function loadWebGpuKVCacheBackend(): Promise<KVCacheBackend> {
  throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', '@qattn/kv-cache: the webgpu backend is not available: the device-resident cache is not implemented yet', {
    backend: 'webgpu',
  });
}
