import type { KVCache } from '@qattn/kv-cache';
import { QattnError } from '@qattn/quant-core';
import { type DecodeParams, decodePagedCpu } from './decode_paged_cpu.js';
import type { AttentionState } from './merge-attention-states.js';

/**
 * Decode attention over a cache of one kv-cache backend. `turboDecode` validates q, the options and the cache, then
 * hands the call to the backend the cache lives on (a cache's pages never leave its device). Each backend lives in
 * its own folder (`cuda/`, `webgpu/`); cpu is the oracle.
 */
export interface DecodeBackend {
  decode(q: Float32Array, cache: KVCache, params: DecodeParams): Promise<AttentionState>;
  /**
   * Times decode steps with the backend's device timers (q already on the device, no transfers in the timed region):
   * `warmup` untimed steps, then one sample in milliseconds per repeat. Optional: a backend without device timers
   * leaves it out, and {@link benchmarkDecode} says so.
   */
  time?(q: Float32Array, cache: KVCache, params: DecodeParams, settings: DecodeTimingSettings): Promise<number[]>;
}

/** Warmup and repeats of {@link DecodeBackend.time}. */
export interface DecodeTimingSettings {
  warmup: number;
  repeats: number;
}

/**
 * Device time of decode steps over `cache` (a bench hook): the backend the cache lives on times `settings.repeats`
 * steps after `settings.warmup` untimed ones and returns the samples in milliseconds. `ERR_QATTN_UNSUPPORTED` when
 * that backend has no device timers (cpu).
 */
export async function benchmarkDecode(q: Float32Array, cache: KVCache, params: DecodeParams, settings: DecodeTimingSettings): Promise<number[]> {
  const backend = await decodeBackendFor(cache);
  if (!backend.time) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `benchmarkDecode: the ${cache.backend} decode backend has no device timers`, { backend: cache.backend });
  }
  return backend.time(q, cache, params, settings);
}

const cpuDecode: DecodeBackend = {
  async decode(q, cache, params) {
    return decodePagedCpu(q, cache.storage(), params);
  },
};

/** The GPU decode backends loaded so far: a decode step then costs no dynamic import (several µs each) and no load. */
const loaded = new Map<'cuda' | 'webgpu', DecodeBackend>();

async function loadGpuDecodeBackend(backend: 'cuda' | 'webgpu'): Promise<DecodeBackend> {
  const made = backend === 'cuda' ? (await import('./cuda/index.js')).loadCudaDecodeBackend() : (await import('./webgpu/index.js')).loadWebGpuDecodeBackend();
  // A backend that cannot load is not remembered: a later call tries again.
  loaded.set(backend, await made);
  return loaded.get(backend)!;
}

/** The decode backend for a cache's backend (`ERR_QATTN_BACKEND_UNAVAILABLE` where none exists). */
export async function decodeBackendFor(cache: KVCache): Promise<DecodeBackend> {
  switch (cache.backend) {
    case 'cpu':
      return cpuDecode;
    case 'cuda':
    case 'webgpu':
      return loaded.get(cache.backend) ?? loadGpuDecodeBackend(cache.backend);
    default:
      throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `turboDecode: no decode backend for a ${String(cache.backend)} cache`, { backend: cache.backend });
  }
}
