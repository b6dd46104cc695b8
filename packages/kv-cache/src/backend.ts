import type { KVCache } from './kv-cache.js';
import type { KVCacheConfig } from './options.js';

/** What a kv-cache backend provides: a cache of a validated configuration. Each backend lives in its own folder. */
export interface KVCacheBackend {
  create(config: KVCacheConfig): KVCache | Promise<KVCache>;
  /** Why `'auto'` should take a lower-priority backend instead (e.g. a software WebGPU adapter); absent: take this. */
  readonly autoSkipReason?: string;
}
