/// <reference types="@webgpu/types" />
import type { PageBits, WebGpuKVCacheStorage, WebGpuKVTensorStorage } from '@qattn/kv-cache';
import { LOG2E, QattnError } from '@qattn/quant-core';
import { BufferUsage, type GpuContext, cachedPipeline, chooseSasPrecision } from '@qattn/webgpu-runtime';
import type { DecodeParams } from '../decode_paged_cpu.js';
import { type PagePass, type PoolBits, planPagePasses } from './decode-page-passes.js';
import { chooseDecodePagesPerSplit } from './decode-split-schedule.js';
import { DECODE_WORKGROUP_SIZE, type DecodeTiles, chooseDecodeTiles } from './decode-tile-schedule.js';
import { decodeBufferKey, decodeBufferWgsl } from './kernels/decode_buffer.wgsl.js';
import { decodeCombineKey, decodeCombineWgsl } from './kernels/decode_combine.wgsl.js';
import { DECODE_EXPONENT, DECODE_FLOAT_PARAMS, DECODE_PARAM_NAMES, type DecodeKernelConfig } from './kernels/decode-common.wgsl.js';
import { decodePagesKey, decodePagesWgsl, pagePassPoolBindings } from './kernels/decode_pages.wgsl.js';
import { decodeQSinkKey, decodeQSinkWgsl } from './kernels/decode_q_sink.wgsl.js';

/** Most splits of one sequence: bounds the combine's loop and the state workspace. */
export const WEBGPU_DECODE_MAX_SPLITS = 1024;

/** Knobs of the WebGPU decode that are not options of `turboDecode`: for tests that compare schedules with the oracle. */
export interface WebGpuDecodeTuning {
  /** Pages per split instead of the schedule's (the oracle's `pagesPerSplit` for a like-for-like comparison). */
  pagesPerSplit?: number;
  /** Storage buffers per shader stage to plan the page passes for, below the device's (tests of the multi-pass path). */
  maxStorageBuffers?: number;
  /**
   * Tile as for a software adapter (16 invocations, kernels sized for 16 rows: one pipeline for every row count) or a
   * GPU (128 invocations, kernels sized for the call's row tile). Default: by the adapter (`GpuContext.software`).
   * Loops stay rolled on software adapters either way (see `DecodeKernelConfig.rolledLoops`).
   */
  profile?: 'software' | 'hardware';
}

/** The schedule of one decode call. */
export interface WebGpuDecodeSchedule {
  tiles: DecodeTiles;
  /** Query rows of one kv head: (heads / kvHeads) · queryTokens. */
  rowsTotal: number;
  /** Pages per split; a sequence of p pages has max(1, ⌈p / pagesPerSplit⌉) splits (splitKVSchedule). */
  pagesPerSplit: number;
  /** Splits of the longest sequence: the grid's x extent of the page passes. */
  maxSplits: number;
  /** The page-pass dispatches (decode-page-passes.ts). */
  pagePasses: PagePass[];
  /** Loops kept rolled: a software adapter (see `DecodeKernelConfig.rolledLoops`). */
  rolledLoops: boolean;
}

/** Workgroups in flight that keep a device busy: a few per CPU thread on a software adapter, ~4 per SM on a GPU. */
function targetWorkgroups(context: GpuContext): number {
  if (!context.software) return 512;
  const threads = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 4;
  return 2 * threads;
}

const widthsOf = (tensor: WebGpuKVTensorStorage): PoolBits[] =>
  (Object.keys(tensor.pools).map(Number) as PoolBits[]).sort((a, b) => b - a);

/**
 * The schedule of a call (pure in the cache's host mirror, the params and the device limits): the workgroup tiling,
 * the splits ({@link chooseDecodePagesPerSplit} capped by the `pagesPerSplit` option, or `tuning.pagesPerSplit`
 * exactly; at most {@link WEBGPU_DECODE_MAX_SPLITS} splits and a state workspace within one binding) and the page
 * passes the device's binding limit allows.
 */
export function webGpuDecodeSchedule(storage: WebGpuKVCacheStorage, params: DecodeParams, tuning?: WebGpuDecodeTuning): WebGpuDecodeSchedule {
  const { context, config } = storage;
  const { batch, kvHeads, headDim, pageSize, sinkTokens } = config;
  const rowsTotal = (params.heads / kvHeads) * params.queryTokens;
  const software = tuning?.profile === undefined ? context.software : tuning.profile === 'software';
  const tiles = chooseDecodeTiles({
    headDim,
    pageSize,
    sinkTokens,
    rowsTotal,
    workgroupStorage: context.limits.maxComputeWorkgroupStorageSize,
    workgroupSize: software ? DECODE_WORKGROUP_SIZE.software : DECODE_WORKGROUP_SIZE.hardware,
    fixedRowCapacity: software,
  });
  const maxGrid = context.limits.maxComputeWorkgroupsPerDimension;
  if (kvHeads * tiles.rowTiles > maxGrid || batch > maxGrid || rowsTotal > maxGrid) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `turboDecode webgpu: ${batch} sequences × ${kvHeads} kv heads × ${rowsTotal} rows exceed the device's ${maxGrid} workgroups per dimension`, {
      batch,
      kvHeads,
      rowsTotal,
    });
  }
  let maxPages = 0;
  for (const length of storage.hostLengths) maxPages = Math.max(maxPages, Math.floor(Math.max(0, length - sinkTokens) / pageSize));
  const stateBytesPerSplit = batch * kvHeads * rowsTotal * (headDim + 2) * 4;
  const splitsThatFit = Math.floor(context.limits.maxStorageBufferBindingSize / stateBytesPerSplit);
  if (splitsThatFit < 1) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `turboDecode webgpu: the split states of one split take ${stateBytesPerSplit} bytes, above the device's binding limit`, {
      bytes: stateBytesPerSplit,
    });
  }
  const planned =
    tuning?.pagesPerSplit ??
    chooseDecodePagesPerSplit({ batch, kvHeads: kvHeads * tiles.rowTiles, maxPages, targetWorkgroups: targetWorkgroups(context), maxPagesPerSplit: params.pagesPerSplit });
  const pagesPerSplit = Math.max(1, planned, Math.ceil(maxPages / Math.min(WEBGPU_DECODE_MAX_SPLITS, splitsThatFit, context.limits.maxComputeWorkgroupsPerDimension)));
  const maxSplits = Math.max(1, Math.ceil(maxPages / pagesPerSplit));
  const limit = Math.min(context.limits.maxStorageBuffersPerShaderStage, tuning?.maxStorageBuffers ?? Infinity);
  return { tiles, rowsTotal, pagesPerSplit, maxSplits, pagePasses: planPagePasses(widthsOf(storage.k), widthsOf(storage.v), limit), rolledLoops: context.software };
}

/** The WGSL generation inputs of a call (the softmax variant is not among them: it travels in the uniform). */
export function decodeKernelConfig(storage: WebGpuKVCacheStorage, schedule: WebGpuDecodeSchedule): DecodeKernelConfig {
  const { context, config } = storage;
  return {
    headDim: config.headDim,
    pageSize: config.pageSize,
    sinkTokens: config.sinkTokens,
    tiles: schedule.tiles,
    sasPrecision: chooseSasPrecision(context.capabilities),
    rotate: storage.rotationSigns !== null,
    packedDot4: context.capabilities.packedDot4,
    rolledLoops: schedule.rolledLoops,
  };
}

/** Where a call's outputs go (and q comes from). */
export interface DecodeIo {
  q: GPUBuffer;
  out: GPUBuffer;
  lse: GPUBuffer;
}

/** The host-visible buffers of the typed-array path: q uploaded with writeBuffer, out, lse and their readback. */
interface TypedIo extends DecodeIo {
  readback: GPUBuffer;
}

/** The compute pipelines of one kernel configuration. */
interface DecodePipelines {
  qSink: GPUComputePipeline;
  /** Per page pass: the first pass's variant (it starts the splits after the first), then the later passes'. */
  pages: GPUComputePipeline[];
  buffer: GPUComputePipeline;
  combine: GPUComputePipeline;
}

const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
function idOf(buffer: GPUBuffer): number {
  let id = bufferIds.get(buffer);
  if (id === undefined) {
    id = nextBufferId++;
    bufferIds.set(buffer, id);
  }
  return id;
}

const STORAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
const BIND_GROUP_CACHE = 64;
const PIPELINE_SETS = 8;

/**
 * The plan of one call shape (batch, heads, kvHeads, queryTokens, headDim) on one device — "plan once, run many": its
 * pipelines per kernel configuration, the uniform, the workspace (grown, never shrunk, as the cache grows: metadata
 * copy, prepared q, split states), the typed-array io buffers, and the bind groups of the buffers last seen. Calls
 * share it safely: WebGPU runs one queue's submissions in order, and every call writes its uniform and submits without
 * yielding in between.
 */
export class DecodePlan {
  readonly #context: GpuContext;
  readonly #uniform: GPUBuffer;
  readonly #pipelineSets = new Map<string, DecodePipelines>();
  readonly #bindGroups = new Map<string, GPUBindGroup>();
  #tables: GPUBuffer | undefined;
  #qprep: GPUBuffer | undefined;
  #state: GPUBuffer | undefined;
  #io: TypedIo | undefined;
  #ioBusy = false;
  #evicted = false;

  constructor(
    context: GpuContext,
    readonly shape: { batch: number; heads: number; kvHeads: number; queryTokens: number; headDim: number },
  ) {
    this.#context = context;
    this.#uniform = context.device.createBuffer({ size: Math.ceil((DECODE_PARAM_NAMES.length * 4) / 16) * 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'qattn decode params' });
  }

  get outElements(): number {
    const { batch, heads, queryTokens, headDim } = this.shape;
    return batch * heads * queryTokens * headDim;
  }

  get lseElements(): number {
    const { batch, heads, queryTokens } = this.shape;
    return batch * heads * queryTokens;
  }

  /** The typed-array buffers, or a fresh set while another call still maps them; hand back with {@link releaseIo}. */
  claimIo(): TypedIo {
    if (!this.#ioBusy && !this.#evicted) {
      this.#io ??= this.#createIo();
      this.#ioBusy = true;
      return this.#io;
    }
    return this.#createIo();
  }

  releaseIo(io: TypedIo, broken = false): void {
    if (io !== this.#io) {
      for (const buffer of [io.q, io.out, io.lse, io.readback]) buffer.destroy();
      return;
    }
    this.#ioBusy = false;
    if (broken || this.#evicted) {
      for (const buffer of [io.q, io.out, io.lse, io.readback]) buffer.destroy();
      this.#io = undefined;
    }
  }

  /**
   * Encodes one decode step into `encoder`: the metadata copies, decode_q_sink, the page passes, decode_buffer and
   * decode_combine. Writes the uniform with `queue.writeBuffer`: submit `encoder` before anything else writes it.
   * With `mark` (profiling), every dispatch gets its own compute pass and `mark(i)` is called after dispatch i − 1
   * (`mark(0)` before the first): timePhases's marks, one phase per dispatch.
   */
  encode(encoder: GPUCommandEncoder, storage: WebGpuKVCacheStorage, params: DecodeParams, schedule: WebGpuDecodeSchedule, io: DecodeIo, mark?: (index: number) => void): void {
    const { device } = this.#context;
    const { batch, kvHeads, headDim } = storage.config;
    const { rowsTotal, tiles, maxSplits } = schedule;
    const entries = batch * kvHeads * storage.maxPages;
    const layout = {
      kTable: batch,
      kBits: batch + entries,
      vTable: batch + 2 * entries,
      vBits: batch + 3 * entries,
      signs: batch + 4 * entries,
      kMean: batch + 4 * entries + (storage.rotationSigns ? headDim : 0),
    };
    const tableWords = layout.kMean + batch * kvHeads * headDim;
    const tables = this.#ensure('tables', tableWords * 4);
    const qprep = this.#ensure('qprep', batch * kvHeads * rowsTotal * (headDim / 4 + 2) * 4);
    const state = this.#ensure('state', batch * kvHeads * maxSplits * rowsTotal * (headDim + 2) * 4);

    const sas = params.variant.exponent === 'sas';
    const values: Record<(typeof DECODE_PARAM_NAMES)[number], number> = {
      batch,
      heads: params.heads,
      kv_heads: kvHeads,
      query_tokens: params.queryTokens,
      group_size: params.heads / kvHeads,
      rows_total: rowsTotal,
      row_tiles: tiles.rowTiles,
      rows_per_tile: tiles.rowsPerTile,
      max_pages: storage.maxPages,
      max_splits: maxSplits,
      pages_per_split: schedule.pagesPerSplit,
      // As the oracle: σ·log2 e rounded to float32 once.
      sm_scale_log2: Math.fround(params.scale * LOG2E),
      k_table: layout.kTable,
      k_bits: layout.kBits,
      v_table: layout.vTable,
      v_bits: layout.vBits,
      signs: layout.signs,
      k_mean: layout.kMean,
      exponent: sas ? DECODE_EXPONENT.sas : DECODE_EXPONENT.exp2,
      skip_sparse: sas && params.variant.skipSparseTiles ? 1 : 0,
      sas_threshold: sas ? params.variant.sasThreshold : 0,
      loop_pad: 0,
    };
    const words = new ArrayBuffer(this.#uniform.size);
    const view = new DataView(words);
    DECODE_PARAM_NAMES.forEach((name, i) => {
      if (DECODE_FLOAT_PARAMS.has(name)) view.setFloat32(i * 4, values[name], true);
      else view.setUint32(i * 4, values[name], true);
    });
    device.queue.writeBuffer(this.#uniform, 0, words);

    // The small per-sequence tables gathered into one buffer, so that a page pass binds 3 + its pools.
    encoder.copyBufferToBuffer(storage.lengths, 0, tables, 0, batch * 4);
    if (entries > 0) {
      encoder.copyBufferToBuffer(storage.k.pageTable, 0, tables, layout.kTable * 4, entries * 4);
      encoder.copyBufferToBuffer(storage.k.pageBits, 0, tables, layout.kBits * 4, entries * 4);
      encoder.copyBufferToBuffer(storage.v.pageTable, 0, tables, layout.vTable * 4, entries * 4);
      encoder.copyBufferToBuffer(storage.v.pageBits, 0, tables, layout.vBits * 4, entries * 4);
    }
    if (storage.rotationSigns) encoder.copyBufferToBuffer(storage.rotationSigns, 0, tables, layout.signs * 4, headDim * 4);
    encoder.copyBufferToBuffer(storage.kMean, 0, tables, layout.kMean * 4, batch * kvHeads * headDim * 4);

    const config = decodeKernelConfig(storage, schedule);
    const pipelines = this.#pipelines(config, schedule.pagePasses);
    const groups = kvHeads * tiles.rowTiles;
    mark?.(0);
    let pass = encoder.beginComputePass({ label: 'qattn turboDecode' });
    let dispatches = 0;
    const dispatch = (pipeline: GPUComputePipeline, buffers: GPUBuffer[], x: number, y: number, z: number) => {
      if (mark && dispatches > 0) pass = encoder.beginComputePass({ label: 'qattn turboDecode' });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, this.#bindGroup(pipeline, [this.#uniform, ...buffers]));
      pass.dispatchWorkgroups(x, y, z);
      dispatches++;
      if (mark) {
        pass.end();
        mark(dispatches);
      }
    };
    const sinks = storage.config.sinkTokens > 0 ? [storage.k.sink, storage.v.sink] : [];
    dispatch(pipelines.qSink, [tables, io.q, qprep, state, ...sinks], 1, groups, batch);
    schedule.pagePasses.forEach((pagePass, i) => {
      const pools = pagePassPoolBindings(pagePass).map(({ tensor, bits, field }) => {
        const pool = storage[tensor].pools[bits as PageBits];
        if (!pool) throw new Error(`turboDecode webgpu: no ${bits}-bit ${tensor} pool`); // unreachable: passes follow the pools
        return pool[field];
      });
      dispatch(pipelines.pages[i], [tables, qprep, state, ...pools], maxSplits, groups, batch);
    });
    dispatch(pipelines.buffer, [tables, qprep, state, storage.k.bufferCodes, storage.k.bufferScales, storage.v.bufferCodes, storage.v.bufferScales], 1, groups, batch);
    dispatch(pipelines.combine, [tables, state, io.out, io.lse], rowsTotal, kvHeads, batch);
    if (!mark) pass.end();
  }

  /** Frees the plan's buffers (the typed-array ones once a call still mapping them hands them back). */
  evict(): void {
    this.#evicted = true;
    for (const buffer of [this.#uniform, this.#tables, this.#qprep, this.#state]) buffer?.destroy();
    this.#bindGroups.clear();
    if (this.#io && !this.#ioBusy) {
      for (const buffer of [this.#io.q, this.#io.out, this.#io.lse, this.#io.readback]) buffer.destroy();
      this.#io = undefined;
    }
  }

  #createIo(): TypedIo {
    const { device } = this.#context;
    const outBytes = this.outElements * 4;
    const lseBytes = this.lseElements * 4;
    return {
      q: device.createBuffer({ size: outBytes, usage: STORAGE, label: 'qattn decode q' }),
      out: device.createBuffer({ size: outBytes, usage: STORAGE, label: 'qattn decode out' }),
      lse: device.createBuffer({ size: lseBytes, usage: STORAGE, label: 'qattn decode lse' }),
      readback: device.createBuffer({ size: outBytes + lseBytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'qattn decode readback' }),
    };
  }

  /** A workspace buffer of at least `bytes`, grown by 1.5× when too small (the old one is freed after its last use). */
  #ensure(name: 'tables' | 'qprep' | 'state', bytes: number): GPUBuffer {
    const field = name === 'tables' ? this.#tables : name === 'qprep' ? this.#qprep : this.#state;
    if (field && field.size >= bytes) return field;
    const size = Math.max(16, Math.ceil((field ? Math.max(bytes, field.size * 1.5) : bytes) / 16) * 16);
    const buffer = this.#context.device.createBuffer({ size, usage: STORAGE, label: `qattn decode ${name}` });
    // Destroying a buffer whose last use is submitted is safe: WebGPU frees it once that work has run.
    field?.destroy();
    this.#bindGroups.clear();
    if (name === 'tables') this.#tables = buffer;
    else if (name === 'qprep') this.#qprep = buffer;
    else this.#state = buffer;
    return buffer;
  }

  #pipelines(config: DecodeKernelConfig, passes: PagePass[]): DecodePipelines {
    const key = `${decodeQSinkKey(config)}|${passes.map((p) => `${p.k.join('')}/${p.v.join('')}`).join(',')}`;
    const hit = this.#pipelineSets.get(key);
    if (hit) return hit;
    const context = this.#context;
    // The combine reads neither the row tiling nor SAS: one pipeline for every tiling.
    const combineConfig: DecodeKernelConfig = {
      ...config,
      sasPrecision: 'f32',
      tiles: { ...config.tiles, rowCapacity: 1, rowsPerTile: 1, rowTiles: 1, threadsPerRow: config.tiles.workgroupSize },
    };
    const set: DecodePipelines = {
      qSink: cachedPipeline(context, decodeQSinkKey(config), () => decodeQSinkWgsl(config)),
      pages: passes.map((pass, i) => cachedPipeline(context, decodePagesKey(config, pass, i === 0), () => decodePagesWgsl(config, pass, i === 0))),
      buffer: cachedPipeline(context, decodeBufferKey(config), () => decodeBufferWgsl(config)),
      combine: cachedPipeline(context, decodeCombineKey(combineConfig), () => decodeCombineWgsl(combineConfig)),
    };
    if (this.#pipelineSets.size >= PIPELINE_SETS) this.#pipelineSets.clear();
    this.#pipelineSets.set(key, set);
    return set;
  }

  #bindGroup(pipeline: GPUComputePipeline, buffers: GPUBuffer[]): GPUBindGroup {
    const key = `${pipeline.label}|${buffers.map(idOf).join(',')}`;
    let group = this.#bindGroups.get(key);
    if (!group) {
      group = this.#context.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      // Cache buffers are replaced as pools and tables grow: drop stale groups wholesale rather than track them.
      if (this.#bindGroups.size >= BIND_GROUP_CACHE) this.#bindGroups.clear();
      this.#bindGroups.set(key, group);
    }
    return group;
  }
}

/** Plans kept per device; the least recently used one is freed past this. */
export const DECODE_PLAN_CAPACITY = 8;

const plansByDevice = new WeakMap<GPUDevice, Map<string, DecodePlan>>();

/** The cached plan of a call shape on `context`'s device (allocated on first use). */
export function decodePlanFor(context: GpuContext, shape: DecodePlan['shape']): DecodePlan {
  let plans = plansByDevice.get(context.device);
  if (!plans) {
    plans = new Map();
    plansByDevice.set(context.device, plans);
  }
  const key = `${shape.batch}x${shape.heads}x${shape.kvHeads}x${shape.queryTokens}x${shape.headDim}`;
  const hit = plans.get(key);
  if (hit) {
    plans.delete(key);
    plans.set(key, hit);
    return hit;
  }
  const plan = new DecodePlan(context, shape);
  plans.set(key, plan);
  while (plans.size > DECODE_PLAN_CAPACITY) {
    const [oldestKey, oldest] = plans.entries().next().value as [string, DecodePlan];
    plans.delete(oldestKey);
    oldest.evict();
  }
  return plan;
}

/** How many decode plans `device` holds (tests). */
export function decodePlanCount(device: GPUDevice): number {
  return plansByDevice.get(device)?.size ?? 0;
}

/** Frees every decode plan of `device` (their workspaces and io buffers). */
export function clearDecodePlans(device: GPUDevice): void {
  const plans = plansByDevice.get(device);
  if (!plans) return;
  plansByDevice.delete(device);
  for (const plan of plans.values()) plan.evict();
}
