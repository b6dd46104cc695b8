/// <reference types="@webgpu/types" />
import { type GpuContext, readBuffer } from '@qattn/webgpu-runtime';
import { hadamardUnrotate } from '../hadamard.js';
import { type KVCacheStorage, type KVTensorStorage, type PagePoolStorage, tokenPlacement } from '../layout.js';
import type { PageBits } from '../options.js';
import { decodePageInt8, pageMatrixShape } from '../page-codec.js';
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

/** Dequantizes one tensor of sequence b (still rotated) into `out` `[kvHeads, length, headDim]`, as TensorStore does. */
function readTensor(storage: KVCacheStorage, tensor: KVTensorStorage, b: number, out: Float32Array): void {
  const { kvHeads, headDim, pageSize, sinkTokens } = storage.config;
  const length = storage.lengths[b];
  const placement = tokenPlacement(length, sinkTokens, pageSize);
  const { rows, cols } = pageMatrixShape(tensor.pageMajor, pageSize, headDim);
  const page = new Int8Array(pageSize * headDim);
  for (let g = 0; g < kvHeads; g++) {
    const group = b * kvHeads + g;
    const outBase = g * length * headDim;
    out.set(tensor.sink.subarray(group * sinkTokens * headDim, (group * sinkTokens + placement.sinkTokens) * headDim), outBase);
    for (let p = 0; p < placement.pages; p++) {
      const entry = group * storage.maxPages + p;
      const pool = tensor.pools[tensor.pageBits[entry] as PageBits];
      if (!pool) throw new Error('kv-cache: page without a pool'); // unreachable for a consistent download
      const slot = tensor.pageTable[entry];
      decodePageInt8(pool, slot, rows, cols, page);
      for (let t = 0; t < pageSize; t++) {
        const scale = pool.scalesPerPage === 1 ? pool.scales[slot] : pool.scales[slot * pageSize + t];
        const outRow = outBase + (sinkTokens + p * pageSize + t) * headDim;
        for (let d = 0; d < headDim; d++) out[outRow + d] = (tensor.pageMajor === 'token' ? page[t * headDim + d] : page[d * pageSize + t]) * scale;
      }
    }
    const firstBuffered = sinkTokens + placement.pages * pageSize;
    for (let r = 0; r < placement.bufferTokens; r++) {
      const scale = tensor.bufferScales[group * pageSize + r];
      const codes = (group * pageSize + r) * headDim;
      const outRow = outBase + (firstBuffered + r) * headDim;
      for (let d = 0; d < headDim; d++) out[outRow + d] = tensor.bufferCodes[codes + d] * scale;
    }
  }
}

/** Sequence b's K and V from a downloaded storage, dequantized and un-rotated (the CPU cache's `read`). */
export function readSequence(storage: KVCacheStorage, b: number): { k: Float32Array; v: Float32Array } {
  const { kvHeads, headDim } = storage.config;
  const length = storage.lengths[b];
  const k = new Float32Array(kvHeads * length * headDim);
  const v = new Float32Array(kvHeads * length * headDim);
  readTensor(storage, storage.k, b, k);
  readTensor(storage, storage.v, b, v);
  const signs = storage.rotationSigns;
  if (signs) {
    const row = new Float64Array(headDim);
    for (const x of [k, v]) {
      for (let start = 0; start < x.length; start += headDim) {
        for (let d = 0; d < headDim; d++) row[d] = x[start + d];
        hadamardUnrotate(row, signs);
        for (let d = 0; d < headDim; d++) x[start + d] = row[d];
      }
    }
  }
  return { k, v };
}
