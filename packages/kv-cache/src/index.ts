export { createKVCache, kvCacheBackends } from './create-kv-cache.js';
export type { KVAppendOptions, KVCache, KVCacheMemory } from './kv-cache.js';
export { type KVCacheConfig, type KVCacheOptions, type LowBitFraction, type PageBits, resolveKVCacheOptions } from './options.js';
export {
  type KVCacheStorage,
  type KVTensorStorage,
  type PagePoolStorage,
  type TokenPlacement,
  lowBitHeads,
  pageWords,
  tokenPlacement,
} from './layout.js';
export { decodePageInt8, pageMatrixShape } from './page-codec.js';
export { compressInt2Clipped } from './progressive-int2.js';
export { HADAMARD_SIGN_SEED, hadamardRotate, hadamardSigns, hadamardUnrotate } from './hadamard.js';
export { quantizeRowInt8 } from './int8-rows.js';
export type { KVCacheBackend } from './backend.js';
export {
  CudaKVCache,
  type CudaKVCacheStorage,
  type CudaKVTensorStorage,
  type CudaPagePoolStorage,
  KV_CACHE_ADDON_ENV,
  cudaUnsupportedReason,
  deviceBuffersOf,
  readSequenceFromStorage,
  uploadKVCacheStorage,
} from './cuda/index.js';
export {
  WEBGPU_MAX_HEAD_DIM,
  type WebGpuAppendOptions,
  WebGpuKVCache,
  type WebGpuKVCacheStorage,
  type WebGpuKVTensorStorage,
  type WebGpuPagePoolStorage,
} from './webgpu/index.js';
