import { hadamardUnrotate } from './hadamard.js';
import { type KVCacheStorage, type KVTensorStorage, tokenPlacement } from './layout.js';
import type { PageBits } from './options.js';
import { decodePageInt8, pageMatrixShape } from './page-codec.js';

/**
 * Dequantizes sequence b of a cache's storage (host arrays in the layout of {@link KVCacheStorage}) to float32
 * `[kvHeads, length, headDim]`, un-rotated: sink rows as stored, page rows through the reference page decoder
 * (`decodePageInt8`) times their scale, buffer rows as code · scale. The CPU cache's `read` computes the same; the
 * device caches' `readAsync` run it on their downloaded storage.
 */
export function readSequenceFromStorage(storage: KVCacheStorage, sequence: number): { k: Float32Array; v: Float32Array } {
  const { kvHeads, headDim } = storage.config;
  const length = storage.lengths[sequence];
  const k = new Float32Array(kvHeads * length * headDim);
  const v = new Float32Array(kvHeads * length * headDim);
  readTensor(storage, storage.k, sequence, length, k);
  readTensor(storage, storage.v, sequence, length, v);
  if (storage.rotationSigns) {
    const row = new Float64Array(headDim);
    for (const x of [k, v]) {
      for (let start = 0; start < x.length; start += headDim) {
        for (let d = 0; d < headDim; d++) row[d] = x[start + d];
        hadamardUnrotate(row, storage.rotationSigns);
        for (let d = 0; d < headDim; d++) x[start + d] = row[d];
      }
    }
  }
  return { k, v };
}

function readTensor(storage: KVCacheStorage, tensor: KVTensorStorage, b: number, length: number, out: Float32Array): void {
  const { kvHeads, headDim, pageSize, sinkTokens } = storage.config;
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
      if (!pool) throw new Error(`kv-cache: page ${p} of sequence ${b}, kv head ${g} has no pool`); // a corrupt table
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
