// The plan of a CUDA decode shape: its workspace, and the packed argument block of its steps. A decode loop calls the
// same shape over a cache that grows by a token per step; everything here is built once for the shape and reused at
// every length, so a steady-state step does O(1) host work: three pointers patched in place, then one launch.
import type { CudaRuntime, DeviceTensor, PlanResource } from '@qattn/cuda-runtime';
import type { KVCacheConfig } from '@qattn/kv-cache';
import { LOG2E } from '@qattn/quant-core';
import type { DecodeParams } from '../decode_paged_cpu.js';
import { type DecodeArgsLayout, type DecodeArgValues, packDecodeArgs } from './args.js';
import type { DecodeDeviceStorage } from './device-cache.js';
import { DECODE_MMA_ROWS, type DecodeSchedule } from './schedule.js';

const EXPONENT = { exp2: 0, sas: 1 } as const;
/** native/decode_args.h kDecodePathSimt, kDecodePathMma. */
const PATH = { simt: 0, mma: 1 } as const;

/** The tensors a call brings: q, and where its output and log-sum-exp go. */
export interface DecodeIo {
  q: DeviceTensor;
  out: DeviceTensor;
  lse: DeviceTensor;
}

/**
 * The plan-cache key of a decode call: the shape and the split capacity, which is all the workspace's size depends
 * on. Not the cache's length: the workspace holds `schedule.splitCapacity` splits, the most the shape ever takes.
 */
export function decodePlanKey(config: Pick<KVCacheConfig, 'batch' | 'kvHeads' | 'headDim'>, params: Pick<DecodeParams, 'heads' | 'queryTokens'>, schedule: DecodeSchedule): string {
  return `${config.batch}x${params.heads}x${config.kvHeads}x${params.queryTokens}x${config.headDim}|s${schedule.splitCapacity}`;
}

function tensorFields(prefix: 'k' | 'v', t: DecodeDeviceStorage['k']): DecodeArgValues {
  const values: DecodeArgValues = {
    [`${prefix}Sink`]: t.sink.pointer,
    [`${prefix}BufferCodes`]: t.bufferCodes.pointer,
    [`${prefix}BufferScales`]: t.bufferScales.pointer,
    [`${prefix}PageTable`]: t.pageTable.pointer,
    [`${prefix}PageBits`]: t.pageBits.pointer,
  };
  for (const bits of [8, 4, 2] as const) {
    const pool = t.pools[bits];
    values[`${prefix}Pool${bits}Codes`] = pool?.codes.pointer ?? 0n;
    values[`${prefix}Pool${bits}Step`] = pool?.step.pointer ?? 0n;
    values[`${prefix}Pool${bits}Zero`] = pool?.zero.pointer ?? 0n;
    values[`${prefix}Pool${bits}Scales`] = pool?.scales.pointer ?? 0n;
    // No fallback for a pool without `slots` (a kv-cache older than this package): packDecodeArgs reports it missing
    // rather than the kernel reading through a tensor map of zero extent.
    values[`${prefix}Pool${bits}Slots`] = pool ? pool.slots : 0;
  }
  return values;
}

/** A packed argument block and everything it was packed from besides the call's q/out/lse. */
interface ArgsTemplate {
  readonly layout: DecodeArgsLayout;
  readonly storage: DecodeDeviceStorage;
  readonly schedule: DecodeSchedule;
  readonly scale: number;
  readonly variant: DecodeParams['variant'];
  readonly bytes: Uint8Array;
  /** A view of `bytes` and the offsets of the three fields each call writes, resolved once per template. */
  readonly view: DataView;
  readonly qOffset: number;
  readonly outOffset: number;
  readonly lseOffset: number;
}

function sameTemplate(t: ArgsTemplate, layout: DecodeArgsLayout, storage: DecodeDeviceStorage, params: DecodeParams, schedule: DecodeSchedule): boolean {
  const s = t.schedule;
  return (
    t.layout === layout &&
    t.storage === storage &&
    s.path === schedule.path &&
    s.rowsPerTile === schedule.rowsPerTile &&
    s.rowTiles === schedule.rowTiles &&
    s.maxSplits === schedule.maxSplits &&
    s.pagesPerSplit === schedule.pagesPerSplit &&
    t.scale === params.scale &&
    t.variant.exponent === params.variant.exponent &&
    t.variant.sasThreshold === params.variant.sasThreshold &&
    t.variant.skipSparseTiles === params.variant.skipSparseTiles
  );
}

/**
 * The workspace of one decode shape (see {@link decodePlanKey}): the splits' partial states, sized for the schedule's
 * split capacity, and q/out/lse for typed-array calls. It also keeps the last packed argument block: the cache's
 * storage view (`deviceStorage()`, a new object whenever the cache reallocates a buffer), the schedule and the softmax
 * parameters determine it, so a step that changes none of them only patches its own q/out/lse.
 */
export class DecodePlan implements PlanResource {
  #template: ArgsTemplate | undefined;

  private constructor(
    readonly partialOut: DeviceTensor<'float32'>,
    readonly partialLse: DeviceTensor<'float32'>,
    /**
     * One counter per (sequence, kv head, row tile) for the tensor-core kernel's fused combine: the CTA that counts in
     * last merges the tile's splits and sets its counter back to 0, so it is zero between launches (cleared once here).
     * Sized for the tensor-core path's row tiles (8 rows), the most any path of the shape uses.
     */
    readonly combineCounters: DeviceTensor<'int32'>,
    readonly q: DeviceTensor<'float32'>,
    readonly out: DeviceTensor<'float32'>,
    readonly lse: DeviceTensor<'float32'>,
  ) {}

  get bytes(): number {
    return this.partialOut.byteLength + this.partialLse.byteLength + this.combineCounters.byteLength + this.q.byteLength + this.out.byteLength + this.lse.byteLength;
  }

  static async allocate(
    runtime: CudaRuntime,
    config: Pick<KVCacheConfig, 'batch' | 'kvHeads' | 'headDim'>,
    params: Pick<DecodeParams, 'heads' | 'queryTokens'>,
    schedule: DecodeSchedule,
  ): Promise<DecodePlan> {
    const { batch, kvHeads, headDim } = config;
    const owned: DeviceTensor[] = [];
    const take = async <D extends 'float32' | 'int32'>(dims: number[], dtype: D) => {
      const tensor = await runtime.empty(dtype, dims);
      owned.push(tensor);
      return tensor;
    };
    try {
      const states = [batch, kvHeads, schedule.splitCapacity, schedule.rowsTotal];
      const counters = await take([batch, kvHeads, Math.ceil(schedule.rowsTotal / DECODE_MMA_ROWS)], 'int32');
      await runtime.submit({ launches: [runtime.fillStep(counters, 0)] }, 'turboDecode cuda: clear the combine counters');
      return new DecodePlan(
        await take([...states, headDim], 'float32'),
        await take(states, 'float32'),
        counters,
        await take([batch, params.heads, params.queryTokens, headDim], 'float32'),
        await take([batch, params.heads, params.queryTokens, headDim], 'float32'),
        await take([batch, params.heads, params.queryTokens], 'float32'),
      );
    } catch (err) {
      for (const tensor of owned) tensor.dispose();
      throw err;
    }
  }

  /**
   * The argument block of a call on `io`: the block packed for (storage, schedule, softmax parameters) — packed again
   * only when one of them changed since the last call — with `io`'s pointers written into it. The same array at every
   * call of a template, patched in place: hand it to the runtime at once (`launch`, `submit` and `time` copy the
   * block before they return), and do not keep it across another call's `args`.
   */
  args(layout: DecodeArgsLayout, storage: DecodeDeviceStorage, params: DecodeParams, schedule: DecodeSchedule, io: DecodeIo): Uint8Array {
    let template = this.#template;
    if (!template || !sameTemplate(template, layout, storage, params, schedule)) {
      const bytes = this.#pack(layout, storage, params, schedule, io);
      template = {
        layout,
        storage,
        schedule,
        scale: params.scale,
        variant: { ...params.variant },
        bytes,
        view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        qOffset: layout.fields.q[0],
        outOffset: layout.fields.out[0],
        lseOffset: layout.fields.lse[0],
      };
      this.#template = template;
    }
    const { view } = template;
    view.setBigUint64(template.qOffset, io.q.pointer, true);
    view.setBigUint64(template.outOffset, io.out.pointer, true);
    view.setBigUint64(template.lseOffset, io.lse.pointer, true);
    return template.bytes;
  }

  #pack(layout: DecodeArgsLayout, storage: DecodeDeviceStorage, params: DecodeParams, schedule: DecodeSchedule, io: DecodeIo): Uint8Array {
    const { batch, kvHeads, headDim, pageSize, sinkTokens } = storage.config;
    const sas = params.variant.exponent === 'sas';
    return packDecodeArgs(layout, {
      q: io.q.pointer,
      out: io.out.pointer,
      lse: io.lse.pointer,
      partialOut: this.partialOut.pointer,
      partialLse: this.partialLse.pointer,
      combineCounters: this.combineCounters.pointer,
      lengths: storage.lengths.pointer,
      kMean: storage.kMean.pointer,
      rotationSigns: storage.rotationSigns?.pointer ?? 0n,
      ...tensorFields('k', storage.k),
      ...tensorFields('v', storage.v),
      batch,
      heads: params.heads,
      kvHeads,
      queryTokens: params.queryTokens,
      headDim,
      pageSize,
      sinkTokens,
      maxPages: storage.maxPages,
      rowsPerTile: schedule.rowsPerTile,
      rowTiles: schedule.rowTiles,
      maxSplits: schedule.maxSplits,
      pagesPerSplit: schedule.pagesPerSplit,
      exponent: sas ? EXPONENT.sas : EXPONENT.exp2,
      skipSparseTiles: sas && params.variant.skipSparseTiles ? 1 : 0,
      // As the oracle: σ·log2 e rounded to float32 once.
      smScaleLog2: Math.fround(params.scale * LOG2E),
      sasThreshold: sas ? params.variant.sasThreshold : 0,
      path: schedule.path === 'mma' ? PATH.mma : PATH.simt,
    });
  }

  dispose(): void {
    this.#template = undefined;
    for (const tensor of [this.partialOut, this.partialLse, this.combineCounters, this.q, this.out, this.lse]) tensor.dispose();
  }
}
