/// <reference types="@webgpu/types" />
import { BufferUsage, type GpuContext, cachedPipeline, encodeDispatch } from '@qattn/webgpu-runtime';
import type { KVCacheConfig } from '../options.js';
import type { BufferSet, GpuTensorStore } from './device-storage.js';
import { APPEND_WORKGROUP, JOB_HEADER_WORDS, JOB_STATE_HEADER_WORDS, SEQUENCE_WORDS } from './kernels/append-constants.js';
import { appendRowsWgsl } from './kernels/append_rows.wgsl.js';
import { bufferRowsWgsl } from './kernels/buffer_rows.wgsl.js';
import { kMeanWgsl } from './kernels/k_mean.wgsl.js';
import { pageAssignWgsl } from './kernels/page_assign.wgsl.js';
import { pageBlockWgsl } from './kernels/page_block.wgsl.js';
import { pageWriteWgsl } from './kernels/page_write.wgsl.js';

/** One appended sequence: cache row b, its length before the append, and its pages before and after. */
export interface AppendedSequence {
  b: number;
  lengthBefore: number;
  pagesBefore: number;
  pagesAfter: number;
}

/** Workgroups along x of a looped dimension (the kernels stride by num_workgroups.x beyond it). */
const MAX_GRID_X = 32768;

/** The pipeline-cache key of a cache's append kernels: everything the generated WGSL depends on. */
function shapeKey(config: KVCacheConfig): string {
  const { kvHeads, headDim, pageSize, sinkTokens, hadamard, bits } = config;
  return `kv-cache append g${kvHeads} d${headDim} p${pageSize} s${sinkTokens} r${hadamard ? 1 : 0} b${bits}`;
}

/**
 * Encodes one append of `tokens` tokens per sequence into `encoder` — the passes of the CPU cache's `append`, in
 * order: append_rows (rotate; sink rows in f32; every other row INT8 with its own scale), k_mean, then for each page
 * this append fills (a "job": the buffer rows from before plus the new ones) page_block → page_assign → page_write,
 * and last buffer_rows (the rows of the page still filling), after page_block has read the buffer rows it replaces.
 * Every transient buffer goes to `transient` (freed by the caller once the work is submitted).
 */
export function encodeAppend(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  config: KVCacheConfig,
  stores: { k: GpuTensorStore; v: GpuTensorStore; kMean: GPUBuffer; signs: GPUBuffer | null },
  inputs: { k: GPUBuffer; v: GPUBuffer },
  sequences: readonly AppendedSequence[],
  tokens: number,
  jobSlots: { k: Int32Array[]; v: Int32Array[] },
  scratch: BufferSet,
  transient: GPUBuffer[],
): void {
  const { device } = context;
  const { kvHeads, headDim, pageSize } = config;
  const key = shapeKey(config);
  const make = (bytes: number, label: string, usage?: number) => {
    const buffer = scratch.create(bytes, label, usage);
    transient.push(buffer);
    return buffer;
  };

  const jobs: Array<{ b: number; page: number; s: number }> = [];
  const sequenceTable = new Uint32Array(sequences.length * SEQUENCE_WORDS);
  sequences.forEach((sequence, s) => {
    sequenceTable.set([sequence.b, sequence.lengthBefore, jobs.length, sequence.pagesBefore, sequence.pagesAfter], s * SEQUENCE_WORDS);
    for (let page = sequence.pagesBefore; page < sequence.pagesAfter; page++) jobs.push({ b: sequence.b, page, s });
  });
  const params = make(16, 'append params', BufferUsage.UNIFORM | BufferUsage.COPY_DST);
  const maxPages = stores.k.maxPages;
  device.queue.writeBuffer(params, 0, new Uint32Array([sequences.length, tokens, jobs.length, maxPages]));
  const seqs = make(sequenceTable.byteLength, 'append sequences');
  device.queue.writeBuffer(seqs, 0, sequenceTable);
  const rows = sequences.length * kvHeads * tokens;
  const rowGrid: [number, number, number] = [Math.min(tokens, MAX_GRID_X), kvHeads, sequences.length];
  const rotated = make(rows * headDim * 4, 'append rotated k');
  // Unused bindings get buffers of their own: one buffer may not be bound read-only and writable in one pass.
  const unusedSigns = make(4, 'append unused signs');
  const unusedRotated = make(4, 'append unused rotated');

  for (const name of ['k', 'v'] as const) {
    const store = stores[name];
    const rowCodes = make(rows * headDim, `append ${name} row codes`);
    const rowScales = make(rows * 4, `append ${name} row scales`);
    encodeDispatch(
      context,
      encoder,
      cachedPipeline(context, `${key} rows ${name}`, () => appendRowsWgsl(config, name === 'k')),
      [params, seqs, inputs[name], stores.signs ?? unusedSigns, store.sink, rowCodes, rowScales, name === 'k' ? rotated : unusedRotated],
      rowGrid,
    );
    if (name === 'k') {
      encodeDispatch(context, encoder, cachedPipeline(context, `${key} k-mean`, () => kMeanWgsl(config)), [params, seqs, rotated, stores.kMean], [
        Math.ceil((sequences.length * kvHeads * headDim) / APPEND_WORKGROUP),
        1,
      ]);
    }
    if (jobs.length > 0) {
      const jobWords = JOB_HEADER_WORDS + kvHeads;
      const jobTable = new Uint32Array(jobs.length * jobWords);
      jobs.forEach((job, j) => {
        jobTable.set([job.b, job.page, job.s], j * jobWords);
        jobTable.set(jobSlots[name][j], j * jobWords + JOB_HEADER_WORDS);
      });
      const jobBuffer = make(jobTable.byteLength, `append ${name} jobs`);
      device.queue.writeBuffer(jobBuffer, 0, jobTable);
      const blockCodes = make(jobs.length * kvHeads * pageSize * headDim, `append ${name} block codes`);
      const jobState = make(jobs.length * kvHeads * (JOB_STATE_HEADER_WORDS + pageSize) * 4, `append ${name} job state`);
      const jobGrid: [number, number] = [Math.min(jobs.length, MAX_GRID_X), kvHeads];
      encodeDispatch(
        context,
        encoder,
        cachedPipeline(context, `${key} block l${store.lowHeads}`, () => pageBlockWgsl(config, store.lowHeads)),
        [params, seqs, jobBuffer, rowCodes, rowScales, store.bufferCodes, store.bufferScales, blockCodes, jobState],
        jobGrid,
      );
      encodeDispatch(
        context,
        encoder,
        cachedPipeline(context, `${key} assign l${store.lowHeads}`, () => pageAssignWgsl(config, store.lowHeads)),
        [params, jobBuffer, jobState, store.pageTable, store.pageBits],
        [Math.ceil(jobs.length / APPEND_WORKGROUP), 1],
      );
      for (const pool of Object.values(store.pools)) {
        const { codes, step, zero, scales } = pool.storage;
        encodeDispatch(
          context,
          encoder,
          cachedPipeline(context, `${key} write ${store.pageMajor} ${pool.bits}`, () => pageWriteWgsl(config, store.pageMajor, pool.bits)),
          [params, jobState, blockCodes, codes, step, zero, scales],
          jobGrid,
        );
      }
    }
    encodeDispatch(
      context,
      encoder,
      cachedPipeline(context, `${key} buffer-rows`, () => bufferRowsWgsl(config)),
      [params, seqs, rowCodes, rowScales, store.bufferCodes, store.bufferScales],
      rowGrid,
    );
  }
}
