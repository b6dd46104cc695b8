/// <reference types="@webgpu/types" />
import { type GpuContext, readBuffer } from '@qattn/webgpu-runtime';
import type { KVCacheStorage, KVTensorStorage, PagePoolStorage } from '../layout.js';
import type { PageBits } from '../options.js';
import type { WebGpuKVCacheStorage, WebGpuKVTensorStorage } from './device-storage.js';

async function bytesOf(context: GpuContext, buffer: GPUBuffer, byteLength: number): Promise<ArrayBuffer> {
  return byteLength === 0 ? new ArrayBuffer(0) : readBuffer(context, buffer, byteLength);
}

async function downloadTensor(context: GpuContext, storage: WebGpuKVCacheStorage, tensor: WebGpuKVTensorStorage): Promise<KVTensorStorage> {
  const { batch, kvHeads, headDim, pageSize, sinkTokens } = storage.config;
  const groups = batch * kvHeads;
  const entries = groups * storage.maxPages;
  const pools: Partial<Record<PageBits, PagePoolStorage>> = {};
  for (const pool of Object.values(tensor.pools)) {
    const { slots, wordsPerPage, metaPerPage, scalesPerPage } = pool;
    pools[pool.bits] = {
      bits: pool.bits,
      wordsPerPage,
      metaPerPage,
      scalesPerPage,
      codes: new Uint32Array(await bytesOf(context, pool.codes, slots * wordsPerPage * 4)),
      step: new Uint8Array(await bytesOf(context, pool.step, slots * metaPerPage)),
      zero: new Int8Array(await bytesOf(context, pool.zero, slots * metaPerPage)),
      scales: new Float32Array(await bytesOf(context, pool.scales, slots * scalesPerPage * 4)),
    };
  }
  return {
    pageMajor: tensor.pageMajor,
    sink: new Float32Array(await bytesOf(context, tensor.sink, groups * sinkTokens * headDim * 4)),
    bufferCodes: new Int8Array(await bytesOf(context, tensor.bufferCodes, groups * pageSize * headDim)),
    bufferScales: new Float32Array(await bytesOf(context, tensor.bufferScales, groups * pageSize * 4)),
    pageTable: new Int32Array(await bytesOf(context, tensor.pageTable, entries * 4)),
    pageBits: Uint8Array.from(new Uint32Array(await bytesOf(context, tensor.pageBits, entries * 4))),
    pools,
  };
}

/**
 * Reads a WebGPU cache's buffers back into the CPU layout (`KVCacheStorage`): the packed bytes of the device are the
 * CPU arrays' bytes, so only `pageBits` (u32 → u8) is converted. The copy the CPU decode oracle can run on.
 */
export async function downloadStorage(context: GpuContext, storage: WebGpuKVCacheStorage): Promise<KVCacheStorage> {
  const { batch, kvHeads, headDim } = storage.config;
  return {
    config: storage.config,
    lengths: new Int32Array(await bytesOf(context, storage.lengths, batch * 4)),
    kMean: new Float32Array(await bytesOf(context, storage.kMean, batch * kvHeads * headDim * 4)),
    maxPages: storage.maxPages,
    rotationSigns: storage.rotationSigns ? new Float32Array(await bytesOf(context, storage.rotationSigns, headDim * 4)) : null,
    k: await downloadTensor(context, storage, storage.k),
    v: await downloadTensor(context, storage, storage.v),
  };
}
