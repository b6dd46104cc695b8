import type { CudaRuntime, DeviceTensor } from '@qattn/cuda-runtime';
import type { KVCacheStorage, KVTensorStorage, PagePoolStorage } from '../layout.js';
import type { KVCacheConfig, PageBits } from '../options.js';

/**
 * A CUDA cache's storage: exactly the layout of {@link KVCacheStorage} (read its doc for what each array holds), each
 * array a device buffer. This is the contract between the cache (which writes it: append, page compression) and the
 * decode kernels (which read it); the CPU cache's `storage()` is its oracle. 32-bit code words travel as `int32`
 * (the same bits as the CPU's Uint32Array), page widths as `uint8`.
 *
 * `lengths` and the page tables are also kept on the host (`hostLengths`, `hostPageTable`, `hostPageBits`): the page
 * allocator runs on the host, and a decode plan (its split-KV schedule) is a function of the lengths.
 */
export interface CudaKVCacheStorage {
  readonly config: KVCacheConfig;
  readonly runtime: CudaRuntime;
  readonly maxPages: number;
  readonly lengths: DeviceTensor<'int32'>; // [batch]
  readonly kMean: DeviceTensor<'float32'>; // [batch, kvHeads, headDim]
  readonly rotationSigns: DeviceTensor<'float32'> | null; // [headDim]
  readonly k: CudaKVTensorStorage;
  readonly v: CudaKVTensorStorage;
  readonly hostLengths: Int32Array;
}

export interface CudaKVTensorStorage {
  readonly pageMajor: 'token' | 'channel';
  readonly sink: DeviceTensor<'float32'>; // [batch, kvHeads, sinkTokens, headDim] (at least one element)
  readonly bufferCodes: DeviceTensor<'int8'>; // [batch, kvHeads, pageSize, headDim]
  readonly bufferScales: DeviceTensor<'float32'>; // [batch, kvHeads, pageSize]
  readonly pageTable: DeviceTensor<'int32'>; // [batch, kvHeads, maxPages]
  readonly pageBits: DeviceTensor<'uint8'>; // [batch, kvHeads, maxPages]
  readonly pools: Readonly<Partial<Record<PageBits, CudaPagePoolStorage>>>;
  readonly hostPageTable: Int32Array;
  readonly hostPageBits: Uint8Array;
}

export interface CudaPagePoolStorage {
  readonly bits: PageBits;
  readonly wordsPerPage: number;
  readonly metaPerPage: number;
  readonly scalesPerPage: number;
  readonly slots: number;
  readonly codes: DeviceTensor<'int32'>; // [slots, wordsPerPage]
  readonly step: DeviceTensor<'uint8'>; // [slots, max(1, metaPerPage)]
  readonly zero: DeviceTensor<'int8'>; // [slots, max(1, metaPerPage)]
  readonly scales: DeviceTensor<'float32'>; // [slots, scalesPerPage]
}

/** A device buffer of at least one element (cudaMalloc of 0 bytes gives no address a kernel may be handed). */
function nonEmpty(length: number): number {
  return Math.max(1, length);
}

async function uploadArray<D extends 'float32' | 'int32' | 'int8' | 'uint8'>(runtime: CudaRuntime, host: ArrayBufferView, dtype: D, dims: number[]): Promise<DeviceTensor<D>> {
  const elements = dims.reduce((a, b) => a * b, 1);
  if (elements > 0) return runtime.upload(host, dtype, dims);
  return runtime.empty(dtype, dims.map((d) => nonEmpty(d)));
}

async function uploadPool(runtime: CudaRuntime, pool: PagePoolStorage): Promise<CudaPagePoolStorage> {
  const slots = pool.codes.length / pool.wordsPerPage;
  const meta = pool.metaPerPage;
  return {
    bits: pool.bits,
    wordsPerPage: pool.wordsPerPage,
    metaPerPage: meta,
    scalesPerPage: pool.scalesPerPage,
    slots,
    codes: await uploadArray(runtime, new Int32Array(pool.codes.buffer, pool.codes.byteOffset, pool.codes.length), 'int32', [slots, pool.wordsPerPage]),
    step: meta > 0 ? await uploadArray(runtime, pool.step, 'uint8', [slots, meta]) : await runtime.empty('uint8', [1]),
    zero: meta > 0 ? await uploadArray(runtime, pool.zero, 'int8', [slots, meta]) : await runtime.empty('int8', [1]),
    scales: await uploadArray(runtime, pool.scales, 'float32', [slots, pool.scalesPerPage]),
  };
}

async function uploadTensor(runtime: CudaRuntime, config: KVCacheConfig, maxPages: number, t: KVTensorStorage): Promise<CudaKVTensorStorage> {
  const { batch, kvHeads, headDim, pageSize, sinkTokens } = config;
  const pools: Partial<Record<PageBits, CudaPagePoolStorage>> = {};
  for (const bits of [8, 4, 2] as const) {
    const pool = t.pools[bits];
    if (pool) pools[bits] = await uploadPool(runtime, pool);
  }
  return {
    pageMajor: t.pageMajor,
    sink: await uploadArray(runtime, t.sink, 'float32', [batch, kvHeads, sinkTokens, headDim]),
    bufferCodes: await uploadArray(runtime, t.bufferCodes, 'int8', [batch, kvHeads, pageSize, headDim]),
    bufferScales: await uploadArray(runtime, t.bufferScales, 'float32', [batch, kvHeads, pageSize]),
    pageTable: await uploadArray(runtime, t.pageTable, 'int32', [batch, kvHeads, maxPages]),
    pageBits: await uploadArray(runtime, t.pageBits, 'uint8', [batch, kvHeads, maxPages]),
    pools,
    hostPageTable: t.pageTable.slice(),
    hostPageBits: t.pageBits.slice(),
  };
}

/**
 * Copies a CPU cache's storage to the device as it is — for tests of the decode kernels against the CPU oracle on the
 * very same codes, and for moving a cache built on the host to the GPU. The caller owns (and disposes) the result.
 */
export async function uploadKVCacheStorage(runtime: CudaRuntime, storage: KVCacheStorage): Promise<CudaKVCacheStorage> {
  const { config } = storage;
  const { batch, kvHeads, headDim } = config;
  return {
    config,
    runtime,
    maxPages: storage.maxPages,
    lengths: await uploadArray(runtime, storage.lengths, 'int32', [batch]),
    kMean: await uploadArray(runtime, storage.kMean, 'float32', [batch, kvHeads, headDim]),
    rotationSigns: storage.rotationSigns ? await uploadArray(runtime, storage.rotationSigns, 'float32', [headDim]) : null,
    k: await uploadTensor(runtime, config, storage.maxPages, storage.k),
    v: await uploadTensor(runtime, config, storage.maxPages, storage.v),
    hostLengths: storage.lengths.slice(),
  };
}

/** Every device buffer of a storage (to dispose them, or count them). */
export function deviceBuffersOf(storage: CudaKVCacheStorage): DeviceTensor[] {
  const out: DeviceTensor[] = [storage.lengths, storage.kMean];
  if (storage.rotationSigns) out.push(storage.rotationSigns);
  for (const t of [storage.k, storage.v]) {
    out.push(t.sink, t.bufferCodes, t.bufferScales, t.pageTable, t.pageBits);
    for (const pool of Object.values(t.pools)) if (pool) out.push(pool.codes, pool.step, pool.zero, pool.scales);
  }
  return out;
}
