/// <reference types="@webgpu/types" />
import { QattnError } from '@qattn/quant-core';
import { acquireGpu } from '@qattn/webgpu-runtime';
import type { KVCacheBackend } from '../backend.js';
import type { KVCacheConfig } from '../options.js';
import { WebGpuKVCache } from './kv-cache-webgpu.js';

export { WebGpuKVCache, type WebGpuAppendOptions } from './kv-cache-webgpu.js';
export type { WebGpuKVCacheStorage, WebGpuKVTensorStorage, WebGpuPagePoolStorage } from './device-storage.js';

/** Largest headDim of the WebGPU cache: append_rows holds one row in workgroup memory, page_write a page's columns. */
export const WEBGPU_MAX_HEAD_DIM = 1024;

/** Rejects shapes the WebGPU layout cannot pack (`ERR_QATTN_UNSUPPORTED`, naming the dimension). */
export function checkWebGpuCacheConfig(config: KVCacheConfig): void {
  const { headDim } = config;
  if (headDim % 4 !== 0 || headDim > WEBGPU_MAX_HEAD_DIM) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `createKVCache: the webgpu cache packs 4 INT8 codes per 32-bit word and needs headDim a multiple of 4 up to ${WEBGPU_MAX_HEAD_DIM}, got ${headDim} (backend 'cpu' takes any)`,
      { dimension: 'headDim', value: headDim, backend: 'webgpu' },
    );
  }
}

/**
 * Loads the WebGPU cache backend: pages in GPU buffers, append quantized and compressed by compute shaders. Acquires
 * the shared device (`acquireGpu`), so it fails with `ERR_QATTN_BACKEND_UNAVAILABLE` where there is no adapter. Each
 * cache takes the shared device current at its creation: the registry keeps this backend for the process, and a
 * device lost since loading must not be handed to new caches (acquireGpu replaces it).
 */
export async function loadWebGpuKVCacheBackend(): Promise<KVCacheBackend> {
  const context = await acquireGpu();
  return {
    ...(context.software
      ? { autoSkipReason: `a software adapter (${context.adapter.description || context.adapter.device || 'fallback'}): the cpu cache is faster; ask for backend 'webgpu' by name to use it` }
      : {}),
    async create(config) {
      checkWebGpuCacheConfig(config);
      return new WebGpuKVCache(await acquireGpu(), config);
    },
  };
}
