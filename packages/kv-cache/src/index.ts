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
export { HADAMARD_SIGN_SEED, hadamardRotate, hadamardSigns, hadamardUnrotate } from './hadamard.js';
export { quantizeRowInt8 } from './int8-rows.js';
