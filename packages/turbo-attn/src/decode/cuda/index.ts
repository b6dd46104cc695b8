import { type CudaRuntime, type DeviceTensor, PlanCache, type PlanResource, getCudaRuntime } from '@qattn/cuda-runtime';
import type { KVCache } from '@qattn/kv-cache';
import { LOG2E, QattnError } from '@qattn/quant-core';
import { type TurboAttnBinding, loadTurboAttnAddon } from '../../cuda/addon.js';
import type { DecodeParams } from '../decode_paged_cpu.js';
import type { DecodeBackend, DecodeTimingSettings } from '../decode-backend.js';
import type { AttentionState } from '../merge-attention-states.js';
import { type DecodeArgValues, packDecodeArgs } from './args.js';
import { type DecodeDeviceStorage, deviceStorageOf, deviceStorageReady } from './device-cache.js';
import { type DecodePath, type DecodeSchedule, cudaDecodeSchedule, decodeMmaSmemBytes, decodeSmemBytes } from './schedule.js';

export { type CudaDecodableCache, type DecodeDeviceStorage, deviceStorageOf } from './device-cache.js';
export { type DecodePath, type DecodeSchedule, type DecodeScheduleInput, cudaDecodeSchedule, decodeMmaSupported, decodeMmaSmemBytes, decodeSmemBytes } from './schedule.js';
export { type DecodeArgsLayout, packDecodeArgs } from './args.js';

/** Knobs of the CUDA decode that are not options of `turboDecode`: for tests that compare schedules with the oracle. */
export interface CudaDecodeTuning {
  /** Pages per split instead of the schedule's (the oracle's `pagesPerSplit` for a like-for-like comparison). */
  pagesPerSplit?: number;
  /** The split kernel instead of the schedule's choice (default: the `QATTN_CUDA_DECODE_PATH` environment variable, else auto). */
  path?: DecodePath;
}

/** The widest page width of a cache (native/decode_paged_mma.cu sizes its stages by it). */
const roomBitsOf = (storage: DecodeDeviceStorage): 8 | 4 => (storage.k.pools[8] || storage.v.pools[8] ? 8 : 4);

/** `QATTN_CUDA_DECODE_PATH=mma|simt` forces a split kernel (tests run both); anything else is an error, not ignored. */
function pathFromEnvironment(): DecodePath | undefined {
  const value = process.env.QATTN_CUDA_DECODE_PATH;
  if (value === undefined || value === '' || value === 'auto') return undefined;
  if (value === 'mma' || value === 'simt') return value;
  throw new QattnError('ERR_QATTN_OPTION', `QATTN_CUDA_DECODE_PATH must be 'mma', 'simt' or 'auto', got '${value}'`, { option: 'QATTN_CUDA_DECODE_PATH', value });
}

/** The CUDA decode backend: typed-array `decode`, device-resident `decodeDevice`, and `time` (CUDA events). */
export interface CudaDecodeBackend extends DecodeBackend {
  decode(q: Float32Array, cache: KVCache, params: DecodeParams, tuning?: CudaDecodeTuning): Promise<AttentionState>;
  /** q `[batch, heads, queryTokens, headDim]` on the device; resolves to new device tensors the caller disposes. */
  decodeDevice(q: DeviceTensor, cache: KVCache, params: DecodeParams, tuning?: CudaDecodeTuning): Promise<{ out: DeviceTensor<'float32'>; lse: DeviceTensor<'float32'> }>;
  time(q: Float32Array, cache: KVCache, params: DecodeParams, settings: DecodeTimingSettings, tuning?: CudaDecodeTuning): Promise<number[]>;
  /** The schedule a call over `cache` with `params` would run. */
  schedule(cache: KVCache, params: DecodeParams, tuning?: CudaDecodeTuning): DecodeSchedule;
}

const EXPONENT = { exp2: 0, sas: 1 } as const;
/** native/decode_args.h kDecodePathSimt, kDecodePathMma. */
const PATH = { simt: 0, mma: 1 } as const;

/** The workspace of one (shape, splits): the splits' partial states, and q/out/lse for typed-array calls. */
class DecodePlan implements PlanResource {
  constructor(
    readonly partialOut: DeviceTensor<'float32'>,
    readonly partialLse: DeviceTensor<'float32'>,
    readonly q: DeviceTensor<'float32'>,
    readonly out: DeviceTensor<'float32'>,
    readonly lse: DeviceTensor<'float32'>,
  ) {}

  get bytes(): number {
    return this.partialOut.byteLength + this.partialLse.byteLength + this.q.byteLength + this.out.byteLength + this.lse.byteLength;
  }

  static async allocate(runtime: CudaRuntime, batch: number, heads: number, kvHeads: number, queryTokens: number, headDim: number, schedule: DecodeSchedule): Promise<DecodePlan> {
    const owned: DeviceTensor[] = [];
    const take = async (dims: number[]) => {
      const tensor = await runtime.empty('float32', dims);
      owned.push(tensor);
      return tensor;
    };
    try {
      const states = [batch, kvHeads, schedule.maxSplits, schedule.rowsTotal];
      return new DecodePlan(
        await take([...states, headDim]),
        await take(states),
        await take([batch, heads, queryTokens, headDim]),
        await take([batch, heads, queryTokens, headDim]),
        await take([batch, heads, queryTokens]),
      );
    } catch (err) {
      for (const tensor of owned) tensor.dispose();
      throw err;
    }
  }

  dispose(): void {
    for (const tensor of [this.partialOut, this.partialLse, this.q, this.out, this.lse]) tensor.dispose();
  }
}

const plans = new PlanCache<DecodePlan>({ name: '@qattn/turbo-attn cuda decode', capacity: 8 });

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
  }
  return values;
}

/** Split-KV decode over a CUDA cache (native/decode_paged_mma.cu on tensor cores, native/decode_paged_splitkv.cu otherwise). */
export async function loadCudaDecodeBackend(): Promise<CudaDecodeBackend> {
  const runtime = getCudaRuntime();
  const binding: TurboAttnBinding = loadTurboAttnAddon();

  const scheduleOf = (storage: DecodeDeviceStorage, params: DecodeParams, tuning?: CudaDecodeTuning): DecodeSchedule => {
    const { kvHeads, pageSize, sinkTokens, headDim } = storage.config;
    const planned = cudaDecodeSchedule({
      lengths: storage.hostLengths,
      kvHeads,
      heads: params.heads,
      queryTokens: params.queryTokens,
      pageSize,
      sinkTokens,
      smCount: runtime.device.multiProcessorCount,
      headDim,
      path: tuning?.path ?? pathFromEnvironment(),
      roomBits: roomBitsOf(storage),
    });
    if (tuning?.pagesPerSplit === undefined) return planned;
    let maxPages = 0;
    for (const length of storage.hostLengths) maxPages = Math.max(maxPages, Math.floor(Math.max(0, length - sinkTokens) / pageSize));
    const pagesPerSplit = Math.max(tuning.pagesPerSplit, Math.ceil(maxPages / 1024));
    return { ...planned, pagesPerSplit, maxSplits: Math.max(1, Math.ceil(maxPages / pagesPerSplit)) };
  };
  const schedule = (cache: KVCache, params: DecodeParams, tuning?: CudaDecodeTuning): DecodeSchedule => scheduleOf(deviceStorageOf(cache), params, tuning);

  /** Validates what the kernels need and returns the storage, the schedule and the plan key. */
  const prepare = (cache: KVCache, params: DecodeParams, tuning?: CudaDecodeTuning) => {
    const storage = deviceStorageOf(cache);
    const { batch, kvHeads, headDim, pageSize, sinkTokens } = storage.config;
    if (headDim % 4 !== 0) {
      throw new QattnError('ERR_QATTN_UNSUPPORTED', `turboDecode cuda: headDim ${headDim} is not a multiple of 4 (INT8 dot products of 4 channels)`, { headDim });
    }
    const planned = scheduleOf(storage, params, tuning);
    const smem = planned.path === 'mma' ? decodeMmaSmemBytes(headDim, pageSize, sinkTokens, roomBitsOf(storage)) : decodeSmemBytes(planned.rowsPerTile, headDim, pageSize, sinkTokens);
    const limit = runtime.device.sharedMemPerBlockOptin || 48 * 1024;
    if (smem > limit) {
      throw new QattnError('ERR_QATTN_UNSUPPORTED', `turboDecode cuda: pageSize ${pageSize} × headDim ${headDim} needs ${smem} bytes of shared memory per block, the device has ${limit}`, {
        pageSize,
        headDim,
      });
    }
    const key = `${batch}x${params.heads}x${kvHeads}x${params.queryTokens}x${headDim}|s${planned.maxSplits}`;
    return { storage, planned, key };
  };

  const pack = (storage: DecodeDeviceStorage, params: DecodeParams, planned: DecodeSchedule, plan: DecodePlan, io: { q: DeviceTensor; out: DeviceTensor; lse: DeviceTensor }): Uint8Array => {
    const { batch, kvHeads, headDim, pageSize, sinkTokens } = storage.config;
    const sas = params.variant.exponent === 'sas';
    return packDecodeArgs(binding.decodeArgsLayout, {
      q: io.q.pointer,
      out: io.out.pointer,
      lse: io.lse.pointer,
      partialOut: plan.partialOut.pointer,
      partialLse: plan.partialLse.pointer,
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
      rowsPerTile: planned.rowsPerTile,
      rowTiles: planned.rowTiles,
      maxSplits: planned.maxSplits,
      pagesPerSplit: planned.pagesPerSplit,
      exponent: sas ? EXPONENT.sas : EXPONENT.exp2,
      skipSparseTiles: sas && params.variant.skipSparseTiles ? 1 : 0,
      // As the oracle: σ·log2 e rounded to float32 once.
      smScaleLog2: Math.fround(params.scale * LOG2E),
      sasThreshold: sas ? params.variant.sasThreshold : 0,
      path: planned.path === 'mma' ? PATH.mma : PATH.simt,
    });
  };

  const usePlan = async <R>(cache: KVCache, params: DecodeParams, tuning: CudaDecodeTuning | undefined, fn: (storage: DecodeDeviceStorage, planned: DecodeSchedule, plan: DecodePlan) => Promise<R>) => {
    await deviceStorageReady(cache);
    const { storage, planned, key } = prepare(cache, params, tuning);
    const { batch, kvHeads, headDim } = storage.config;
    return plans.use(
      key,
      () => DecodePlan.allocate(runtime, batch, params.heads, kvHeads, params.queryTokens, headDim, planned),
      (plan) => fn(storage, planned, plan),
    );
  };

  return {
    schedule,
    async decode(q, cache, params, tuning) {
      const { batch, headDim } = cache;
      const out = new Float32Array(batch * params.heads * params.queryTokens * headDim);
      const lse = new Float32Array(batch * params.heads * params.queryTokens);
      // One queue job (upload q, both kernels, download out and lse): safe on a plan shared by concurrent calls.
      await usePlan(cache, params, tuning, (storage, planned, plan) =>
        runtime.submit(
          {
            uploads: [{ tensor: plan.q, host: q }],
            launches: [{ launcher: binding.decodeLauncher, args: pack(storage, params, planned, plan, plan) }],
            downloads: [
              { tensor: plan.out, host: out },
              { tensor: plan.lse, host: lse },
            ],
          },
          'turboDecode cuda',
        ),
      );
      return { out, lse };
    },
    async decodeDevice(q, cache, params, tuning) {
      const { batch, headDim } = cache;
      const expected = batch * params.heads * params.queryTokens * headDim;
      if (q.dtype !== 'float32' || q.byteLength !== expected * 4) {
        throw new QattnError('ERR_QATTN_SHAPE', `turboDecode cuda: q must be a float32 device tensor of [${batch}, ${params.heads}, ${params.queryTokens}, ${headDim}]`, { tensor: 'q' });
      }
      const out = await runtime.empty('float32', [batch, params.heads, params.queryTokens, headDim]);
      const lse = await runtime.empty('float32', [batch, params.heads, params.queryTokens]);
      try {
        await usePlan(cache, params, tuning, (storage, planned, plan) =>
          runtime.launch(binding.decodeLauncher, pack(storage, params, planned, plan, { q, out, lse }), 'turboDecode cuda'),
        );
        return { out, lse };
      } catch (err) {
        out.dispose();
        lse.dispose();
        throw err;
      }
    },
    async time(q, cache, params, settings, tuning) {
      return usePlan(cache, params, tuning, async (storage, planned, plan) => {
        await runtime.submit({ uploads: [{ tensor: plan.q, host: q }] }, 'turboDecode cuda timing: upload q');
        return runtime.time(binding.decodeLauncher, pack(storage, params, planned, plan, plan), 'turboDecode cuda timing', settings.warmup, settings.repeats);
      });
    },
  };
}
