export {
  QuantizedKVCache,
  type KVCacheInt8View,
  type KVCacheMemory,
  type KVCacheOptions,
  type KVCacheShape,
} from './kv-cache.js';
export { type CompressedBlock, compressedGroupBytes } from './compressed-block.js';
