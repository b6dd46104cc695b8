import type { DeviceTensor } from '@qattn/cuda-runtime';
import type { KVCache, KVCacheConfig, PageBits } from '@qattn/kv-cache';
import { QattnError } from '@qattn/quant-core';

/**
 * The part of @qattn/kv-cache's `CudaKVCacheStorage` (src/cuda/device-storage.ts) the decode kernels read: the CPU
 * layout (layout.ts) in device buffers. Declared structurally here so decode depends only on the contract's fields.
 */
export interface DecodeDeviceStorage {
  readonly config: KVCacheConfig;
  readonly runtime: { readonly device: { readonly multiProcessorCount: number; readonly sharedMemPerBlockOptin: number } };
  readonly maxPages: number;
  readonly lengths: DeviceTensor;
  readonly kMean: DeviceTensor;
  readonly rotationSigns: DeviceTensor | null;
  readonly k: DecodeDeviceTensorStorage;
  readonly v: DecodeDeviceTensorStorage;
  readonly hostLengths: Int32Array;
}

export interface DecodeDeviceTensorStorage {
  readonly sink: DeviceTensor;
  readonly bufferCodes: DeviceTensor;
  readonly bufferScales: DeviceTensor;
  readonly pageTable: DeviceTensor;
  readonly pageBits: DeviceTensor;
  /** Per width: the pool's `slots` pages, codes `[slots, wordsPerPage]`, step/zero and scales. */
  readonly pools: Readonly<
    Partial<Record<PageBits, { readonly slots: number; readonly codes: DeviceTensor; readonly step: DeviceTensor; readonly zero: DeviceTensor; readonly scales: DeviceTensor }>>
  >;
}

/**
 * A cache decode runs on with CUDA: `backend === 'cuda'` and its device storage; `ready()`, where the cache has it,
 * resolves once an append that is still allocating device memory has its buffers (kv-cache's CudaKVCache).
 */
export type CudaDecodableCache = KVCache & { deviceStorage(): DecodeDeviceStorage; ready?(): Promise<void> };

/** Waits until the cache's device storage can be read (appends queued before stay ordered before decode on the stream). */
export async function deviceStorageReady(cache: KVCache): Promise<void> {
  await (cache as Partial<CudaDecodableCache>).ready?.();
}

/** The device storage of a cuda cache, or `ERR_QATTN_BACKEND_UNAVAILABLE` when the cache does not expose one. */
export function deviceStorageOf(cache: KVCache): DecodeDeviceStorage {
  const candidate = cache as Partial<CudaDecodableCache>;
  if (cache.backend !== 'cuda' || typeof candidate.deviceStorage !== 'function') {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', 'turboDecode cuda: the cache has no deviceStorage() (not a cuda cache of @qattn/kv-cache)', {
      backend: cache.backend,
    });
  }
  return candidate.deviceStorage();
}
