import { type CudaRuntime, type DeviceTensor, PlanCache, getCudaRuntime } from '@qattn/cuda-runtime';
import type { KVCache } from '@qattn/kv-cache';
import { QattnError } from '@qattn/quant-core';
import { type TurboAttnBinding, loadTurboAttnAddon } from '../../cuda/addon.js';
import type { DecodeParams } from '../decode_paged_cpu.js';
import type { DecodeBackend, DecodeTimingSettings } from '../decode-backend.js';
import type { AttentionState } from '../merge-attention-states.js';
import { type DecodeIo, DecodePlan, decodePlanKey } from './decode-plan.js';
import { type DecodeDeviceStorage, deviceStorageOf, deviceStorageReady } from './device-cache.js';
import { DECODE_MAX_SPLITS, type DecodePath, type DecodeSchedule, cudaDecodeSchedule, decodeMmaSmemBytes, decodeSmemBytes } from './schedule.js';

export { type CudaDecodableCache, type DecodeDeviceStorage, deviceStorageOf } from './device-cache.js';
export { type DecodePath, type DecodeSchedule, type DecodeScheduleInput, cudaDecodeSchedule, decodeMmaSupported, decodeMmaSmemBytes, decodeSmemBytes } from './schedule.js';
export { type DecodeArgsLayout, packDecodeArgs } from './args.js';

/** Knobs of the CUDA decode that are not options of `turboDecode`: for tests that compare schedules with the oracle. */
export interface CudaDecodeTuning {
  /** Pages per split instead of the schedule's (the oracle's `pagesPerSplit` for a like-for-like comparison). */
  pagesPerSplit?: number;
  /**
   * The split kernel instead of the schedule's choice (default: the `QATTN_CUDA_DECODE_PATH` environment variable as
   * it was when the backend was created, else auto).
   */
  path?: DecodePath;
}

/** The widest page width of a cache (native/decode_paged_mma.cu sizes its stages by it). */
const roomBitsOf = (storage: DecodeDeviceStorage): 8 | 4 => (storage.k.pools[8] || storage.v.pools[8] ? 8 : 4);

/** Full pages of the cache's longest sequence (layout.ts tokenPlacement): what the schedule reads of the lengths. */
function maxPagesOf(storage: DecodeDeviceStorage): number {
  const { pageSize, sinkTokens } = storage.config;
  let longest = 0;
  for (const length of storage.hostLengths) longest = Math.max(longest, length);
  return Math.floor(Math.max(0, longest - sinkTokens) / pageSize);
}

/** What `prepare` derived for one call, and the inputs it derived it from. */
interface PreparedCall {
  readonly storage: DecodeDeviceStorage;
  readonly maxPages: number;
  readonly heads: number;
  readonly queryTokens: number;
  readonly tuningPath: DecodePath | undefined;
  readonly tuningPagesPerSplit: number | undefined;
  readonly planned: DecodeSchedule;
  readonly key: string;
}

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

/**
 * The CUDA decode backend over `runtime` and turbo-attn's addon `binding` (tests pass fakes of both). A step is one
 * runtime job — one launch of the tensor-core split kernel, whose last CTA per row tile merges the splits (the SIMT
 * path: its split kernel and a combine kernel) — whose host work does not grow with the
 * cache: the plan is keyed by the shape (its workspace sized for the schedule's split capacity), and its packed
 * argument block is reused until the cache reallocates a buffer or the schedule changes.
 */
export function createCudaDecodeBackend(runtime: CudaRuntime, binding: TurboAttnBinding): CudaDecodeBackend {
  const plans = new PlanCache<DecodePlan>({ name: '@qattn/turbo-attn cuda decode', capacity: 8 });
  // Read once: process.env is a getenv() per access, a measurable share of a step's host work. A bad value still
  // rejects every call, as when it was read per call.
  let environmentPath: DecodePath | undefined;
  let environmentError: unknown;
  try {
    environmentPath = pathFromEnvironment();
  } catch (err) {
    environmentError = err;
  }
  const pathOf = (tuning: CudaDecodeTuning | undefined): DecodePath | undefined => {
    if (tuning?.path !== undefined) return tuning.path;
    if (environmentError !== undefined) throw environmentError;
    return environmentPath;
  };
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
      path: pathOf(tuning),
    });
    if (tuning?.pagesPerSplit === undefined) return planned;
    const maxPages = maxPagesOf(storage);
    const pagesPerSplit = Math.max(tuning.pagesPerSplit, Math.ceil(maxPages / DECODE_MAX_SPLITS));
    const maxSplits = Math.max(1, Math.ceil(maxPages / pagesPerSplit));
    // A test knob: its workspace follows the tuned split count (a new plan when it outgrows the schedule's capacity).
    return { ...planned, pagesPerSplit, maxSplits, splitCapacity: Math.max(planned.splitCapacity, maxSplits) };
  };
  const schedule = (cache: KVCache, params: DecodeParams, tuning?: CudaDecodeTuning): DecodeSchedule => scheduleOf(deviceStorageOf(cache), params, tuning);

  /**
   * The last call `prepare` validated and scheduled. The schedule is a function of the storage view, the shape, the
   * kernel choice and the longest sequence's full pages (cudaDecodeSchedule reads the lengths through nothing else),
   * and the checks and the plan key of those too: a decode loop recomputes them only when a page fills or the cache
   * reallocates, not at every step.
   */
  let prepared: PreparedCall | undefined;

  /** Validates what the kernels need and returns the storage, the schedule and the plan key. */
  const prepare = (cache: KVCache, params: DecodeParams, tuning?: CudaDecodeTuning): PreparedCall => {
    const storage = deviceStorageOf(cache);
    const maxPages = maxPagesOf(storage);
    const last = prepared;
    if (
      last !== undefined &&
      last.storage === storage &&
      last.maxPages === maxPages &&
      last.heads === params.heads &&
      last.queryTokens === params.queryTokens &&
      last.tuningPath === tuning?.path &&
      last.tuningPagesPerSplit === tuning?.pagesPerSplit
    ) {
      return last;
    }
    const { headDim, pageSize, sinkTokens } = storage.config;
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
    prepared = {
      storage,
      maxPages,
      heads: params.heads,
      queryTokens: params.queryTokens,
      tuningPath: tuning?.path,
      tuningPagesPerSplit: tuning?.pagesPerSplit,
      planned,
      key: decodePlanKey(storage.config, params, planned),
    };
    return prepared;
  };

  const usePlan = async <R>(cache: KVCache, params: DecodeParams, tuning: CudaDecodeTuning | undefined, fn: (args: (io: DecodeIo) => Uint8Array, plan: DecodePlan) => Promise<R>) => {
    await deviceStorageReady(cache);
    const { storage, planned, key } = prepare(cache, params, tuning);
    return plans.use(
      key,
      () => DecodePlan.allocate(runtime, storage.config, params, planned),
      (plan) => fn((io) => plan.args(binding.decodeArgsLayout, storage, params, planned, io), plan),
    );
  };

  return {
    schedule,
    async decode(q, cache, params, tuning) {
      const { batch, headDim } = cache;
      const out = new Float32Array(batch * params.heads * params.queryTokens * headDim);
      const lse = new Float32Array(batch * params.heads * params.queryTokens);
      // One queue job (upload q, both kernels, download out and lse): safe on a plan shared by concurrent calls.
      await usePlan(cache, params, tuning, (args, plan) =>
        runtime.submit(
          {
            uploads: [{ tensor: plan.q, host: q }],
            launches: [{ launcher: binding.decodeLauncher, args: args(plan) }],
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
        await usePlan(cache, params, tuning, (args) => runtime.launch(binding.decodeLauncher, args({ q, out, lse }), 'turboDecode cuda'));
        return { out, lse };
      } catch (err) {
        out.dispose();
        lse.dispose();
        throw err;
      }
    },
    async time(q, cache, params, settings, tuning) {
      return usePlan(cache, params, tuning, async (args, plan) => {
        await runtime.submit({ uploads: [{ tensor: plan.q, host: q }] }, 'turboDecode cuda timing: upload q');
        return runtime.time(binding.decodeLauncher, args(plan), 'turboDecode cuda timing', settings.warmup, settings.repeats);
      });
    },
  };
}

let loaded: CudaDecodeBackend | undefined;

/**
 * Split-KV decode over a CUDA cache (native/decode_paged_mma.cu on tensor cores, native/decode_paged_splitkv.cu
 * otherwise), on the process's runtime; made once. `ERR_QATTN_BACKEND_UNAVAILABLE` when the runtime or the addon
 * cannot load (not remembered: a later call tries again).
 */
export async function loadCudaDecodeBackend(): Promise<CudaDecodeBackend> {
  loaded ??= createCudaDecodeBackend(getCudaRuntime(), loadTurboAttnAddon());
  return loaded;
}
