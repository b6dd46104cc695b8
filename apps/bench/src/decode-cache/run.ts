/**
 * The decode-cache runner: per shape, one draw of LLM-like q/K/V (@qattn/reference, through the bench's input
 * source) and the float64 reference on the original K/V; per row, a cache of its kind filled with the prompt, the
 * decode step timed, its accuracy, memory and bandwidth, and the host overhead of a device-resident step. Every
 * failure lands in its row; nothing thrown by a backend stops the run.
 */
import type { KVCache } from '@qattn/kv-cache';
import type { TurboDecodeOptions } from '@qattn/turbo-attn';
import type { InputTensors } from '../algorithms.js';
import type { InputSource } from '../inputs.js';
import { type CellShape, median, shapeLabel } from '../metrics.js';
import type { TraceSink } from '../overhead/run.js';
import { callStats, hostOverheadUs, overheadVerdict } from '../overhead/stats.js';
import { formatTrace, openTraceWindow } from '../overhead/trace.js';
import type { ApiCudaRuntime, ApiDeviceTensor, ApiWebGpuRuntime, ReferencePackage } from '../packages.js';
import type { BackendName } from '../presets.js';
import type { CellError, CellStatus } from '../sweep.js';
import { MAX_WARMUP_CALLS, warmupCalls } from '../warmup.js';
import type { DecodeCacheApi, DecodeParams } from './api.js';
import {
  accuracySlices,
  DECODE_ALGORITHM_OPTIONS,
  type DecodeAccuracy,
  type DecodeCacheRow,
  type DeviceStepOverhead,
  groupRows,
  kvChunk,
  kvPrefix,
  stepTiming,
  withBandwidth,
} from './rows.js';
import type { ScoreOutput } from './wgsl-baseline.js';

/** How a decode-cache run measures. */
export interface DecodeCacheSettings {
  /** Unrecorded decode steps before the timed ones (and before the device-step loop). */
  warmup: number;
  /**
   * GPU rows: least wall time of those warm-ups, in ms (0 or absent: `warmup` steps only). The GPU idles down during
   * the cache fill and the float64 reference; a few short steps would be timed at idle clocks.
   */
  warmupMs?: number;
  /** Timed decode steps per row (device timers where the backend has them). */
  repeats: number;
  /** Sequential device-resident steps timed one by one for the host overhead. */
  calls: number;
  seed: number;
  accuracy: boolean;
  /** `--options`: extra turboDecode options for every row. */
  options: TurboDecodeOptions;
  /** The prompt is appended in chunks of at most this many tokens (chunked prefill: the same cache as one append). */
  fillChunkTokens: number;
  /** Float64 multiply-adds the reference may spend per shape. */
  referenceOpsBudget: number;
}

/** What the runner needs from the outside world; tests pass fakes or the real packages. */
export interface DecodeCacheDependencies {
  api: DecodeCacheApi;
  reference: ReferencePackage;
  inputs: InputSource;
  /** The CUDA runtime for device-resident q (undefined: no device-resident step is measured on cuda). */
  cudaRuntime?: () => ApiCudaRuntime;
  /** The WebGPU runtime for device-resident q on the cache's (shared) device; undefined: none measured on webgpu. */
  webgpuRuntime?: () => ApiWebGpuRuntime;
  /**
   * Called once per shape after its last row, with the shape's inputs, a scorer against its float64 reference and the
   * backends its rows ran on: where peers that need the same draw (the WGSL decode baselines) are measured.
   */
  shapePeers?: (shape: CellShape, inputs: InputTensors, score: ScoreOutput, backends: ReadonlySet<BackendName>) => Promise<void>;
  now?: () => number;
  onProgress?: (done: number, total: number, label: string) => void;
  /**
   * Receives the CUDA runtime's stage trace of each row's device-resident steps when it traces (QATTN_CUDA_TRACE=1);
   * default: printed to stderr.
   */
  onTrace?: TraceSink;
}

/** The timer label of each backend's device timers (`benchmarkDecode`). */
const DEVICE_TIMER: Record<BackendName, string> = { cuda: 'events', webgpu: 'timestamp-query', cpu: 'benchmarkDecode' };

export function toCellError(err: unknown): CellError {
  const candidate = err as { code?: unknown; message?: unknown };
  const code = typeof candidate?.code === 'string' ? candidate.code : 'ERR_BENCH_UNEXPECTED';
  const message = typeof candidate?.message === 'string' ? candidate.message : String(err);
  return { code, message: message.split('\n')[0] };
}

/** A row's status after an error: the backend cannot load, cannot do this, or failed. */
export function statusOf(error: CellError): CellStatus {
  if (error.code === 'ERR_QATTN_BACKEND_UNAVAILABLE') return 'unavailable';
  if (error.code === 'ERR_QATTN_UNSUPPORTED' || error.code === 'ERR_BENCH_NO_API') return 'unsupported';
  return 'error';
}

/** The float64 reference of one shape on its accuracy slices. */
interface ShapeReference {
  description: string;
  slices: Array<{ batch: number; kvHead: number }>;
  /** Concatenated expected outputs of the slices. */
  expected: Float64Array;
}

const apiShape = (s: CellShape) => ({ batch: s.batch, heads: s.heads, kvHeads: s.kvHeads, seqQ: s.seqQ, seqKV: s.seqKV, headDim: s.headDim });
/** q/K/V of a shape minus its key length: the draw every key length of the family is cut from. */
const familyKey = (s: CellShape) => `${s.batch}x${s.heads}x${s.kvHeads}x${s.seqQ}x${s.headDim}`;

function buildReference(reference: ReferencePackage, shape: CellShape, inputs: InputTensors, budget: number): ShapeReference {
  const attention = reference.attention;
  if (!attention || !reference.compare) throw new Error(reference.loadError ?? '@qattn/reference exports no attention/compare');
  const { slices, description } = accuracySlices(shape, budget);
  const group = shape.heads / shape.kvHeads;
  const sliceLength = group * shape.seqQ * shape.headDim;
  const expected = new Float64Array(slices.length * sliceLength);
  const kvLength = shape.seqKV * shape.headDim;
  slices.forEach((slice, i) => {
    const kvStart = (slice.batch * shape.kvHeads + slice.kvHead) * kvLength;
    const sub = { batch: 1, heads: group, kvHeads: 1, seqQ: shape.seqQ, seqKV: shape.seqKV, headDim: shape.headDim };
    // The new tokens are the cache's last seqQ tokens, causal among themselves (turboDecode's bottom-right alignment).
    const out = attention(groupRows(inputs.q, shape, slice), inputs.k.subarray(kvStart, kvStart + kvLength), inputs.v.subarray(kvStart, kvStart + kvLength), sub, {
      causal: shape.seqQ > 1,
    });
    expected.set(out, i * sliceLength);
  });
  return { description, slices, expected };
}

function scoreAgainst(reference: ReferencePackage, out: Float32Array, shape: CellShape, ref: ShapeReference): DecodeAccuracy {
  const actual = new Float32Array(ref.expected.length);
  const sliceLength = (shape.heads / shape.kvHeads) * shape.seqQ * shape.headDim;
  ref.slices.forEach((slice, i) => actual.set(groupRows(out, shape, slice), i * sliceLength));
  const { relL2, cos, maxAbs } = reference.compare!(actual, ref.expected);
  return { relL2, cos, maxAbs, slices: ref.description };
}

/** Fills a new cache with the prompt in chunks, every append awaited. */
async function fill(cache: KVCache, inputs: InputTensors, shape: CellShape, chunkTokens: number): Promise<number> {
  let appends = 0;
  for (let from = 0; from < shape.seqKV; from += chunkTokens) {
    const count = Math.min(chunkTokens, shape.seqKV - from);
    const chunk = (kv: Float32Array) => kvChunk(kv, shape.batch, shape.kvHeads, shape.seqKV, shape.headDim, from, count);
    await cache.append(chunk(inputs.k), chunk(inputs.v));
    appends++;
  }
  return appends;
}

/** q on the device of a GPU backend: the CUDA runtime's, or a WebGPU tensor on the shared device the cache uses. */
async function uploadQ(backend: 'cuda' | 'webgpu', q: Float32Array, dims: number[], deps: DecodeCacheDependencies): Promise<ApiDeviceTensor | undefined> {
  if (backend === 'cuda') {
    const runtime = deps.cudaRuntime?.();
    return runtime ? runtime.upload(q, 'float32', dims) : undefined;
  }
  const runtime = deps.webgpuRuntime?.();
  return runtime ? runtime.fromArray(await runtime.acquireGpu(), q, dims) : undefined;
}

/**
 * Host overhead of the device-resident step: sequential awaited steps with q on the device. CUDA's entry resolves once
 * its kernels have finished; WebGPU's once they are submitted, so each step also waits for the queue (as the overhead
 * preset's WebGPU device entries do).
 */
async function measureDeviceStep(
  row: DecodeCacheRow,
  cache: KVCache,
  q: Float32Array,
  params: DecodeParams,
  settings: DecodeCacheSettings,
  deps: DecodeCacheDependencies,
  now: () => number,
): Promise<DeviceStepOverhead> {
  const backend = row.backend as 'cuda' | 'webgpu';
  let decode: Awaited<ReturnType<DecodeCacheApi['deviceDecode']>>;
  try {
    decode = await deps.api.deviceDecode(backend);
  } catch (err) {
    return { status: 'error', error: toCellError(err) };
  }
  const runtime = backend === 'cuda' ? deps.cudaRuntime : deps.webgpuRuntime;
  if (!decode || !runtime) {
    return { status: 'unsupported', error: { code: 'ERR_BENCH_NO_API', message: `no device-resident decode entry for ${backend} in @qattn/turbo-attn` } };
  }
  let qDevice: ApiDeviceTensor | undefined;
  try {
    const { batch, heads, seqQ, headDim } = row.shape;
    qDevice = await uploadQ(backend, q, [batch, heads, seqQ, headDim], deps);
    if (!qDevice) throw new Error(`no ${backend} runtime to upload q`);
    const device = qDevice;
    // One step as a serving loop makes it: enqueue with q already on the device, await it, release the outputs.
    const step = async () => {
      const { out, lse } = await decode(device, cache, params);
      await out.context?.device?.queue?.onSubmittedWorkDone?.();
      out.dispose();
      lse.dispose();
    };
    const warmupMs = settings.warmupMs ?? 0;
    const warmupStart = now();
    for (let i = 0; i < Math.max(settings.warmup, 10) || (now() - warmupStart < warmupMs && i < MAX_WARMUP_CALLS); i++) await step();
    const samplesMs = new Array<number>(settings.calls);
    const window = backend === 'cuda' ? openTraceWindow(runtime()) : undefined;
    for (let i = 0; i < settings.calls; i++) {
      const start = now();
      await step();
      samplesMs[i] = now() - start;
    }
    if (window) {
      const sink = deps.onTrace ?? ((title, summary) => void process.stderr.write(formatTrace(title, summary)));
      sink(`${row.algorithm} ${row.cache} ${shapeLabel(row.shape)} device-resident steps, ${settings.calls} calls`, window.take());
    }
    const wall = callStats(samplesMs);
    const result: DeviceStepOverhead = { status: 'ok', wall };
    if (row.step?.timer === DEVICE_TIMER[backend]) {
      result.kernelMedianUs = row.step.medianMs * 1e3;
      result.hostOverheadUs = hostOverheadUs(wall, result.kernelMedianUs);
      Object.assign(result, overheadVerdict(backend, 'device', result.hostOverheadUs));
    }
    return result;
  } catch (err) {
    return { status: 'error', error: toCellError(err) };
  } finally {
    qDevice?.dispose();
  }
}

/** Measures one planned row (see the module comment). Never throws. */
async function measureRow(row: DecodeCacheRow, inputs: InputTensors, reference: ShapeReference | Error | undefined, settings: DecodeCacheSettings, deps: DecodeCacheDependencies): Promise<DecodeCacheRow> {
  const now = deps.now ?? (() => performance.now());
  const { shape } = row;
  let cache: KVCache | undefined;
  try {
    cache = await deps.api.createKVCache({ batch: shape.batch, kvHeads: shape.kvHeads, headDim: shape.headDim, backend: row.backend, capacity: shape.seqKV, ...row.cacheOptions });
    const fillStart = now();
    const appends = await fill(cache, inputs, shape, settings.fillChunkTokens);
    row.fill = { ms: now() - fillStart, appends };
    const { allocatedBytes, fp16Bytes, compressionRatio, parts } = cache.memory();
    row.memory = { allocatedBytes, fp16Bytes, compressionRatio, parts: { ...parts } };

    const options: TurboDecodeOptions = { ...DECODE_ALGORITHM_OPTIONS[row.algorithm], ...settings.options, queryTokens: shape.seqQ };
    // The typed-array call first: it validates the options through the public entry, and its output is the one
    // scored against float64 (a failure here is the row's failure: timing would only fail again).
    const out = await deps.api.turboDecode(inputs.q, cache, options);
    if (reference instanceof Error) row.accuracyError = toCellError(reference);
    else if (reference) {
      try {
        row.accuracy = scoreAgainst(deps.reference, out, shape, reference);
      } catch (err) {
        row.accuracyError = toCellError(err);
      }
    }

    const params = deps.api.decodeParams(cache, shape.heads, options);
    let samplesMs: number[];
    let timer = DEVICE_TIMER[row.backend];
    // GPU rows: the warm-up is sized in time from one probe step (cpu has no device timers: benchmarkDecode refuses it).
    const warmupMs = row.backend === 'cpu' ? 0 : (settings.warmupMs ?? 0);
    try {
      let warmup = settings.warmup;
      if (warmupMs > 0) warmup = warmupCalls(warmup, warmupMs, median(await deps.api.benchmarkDecode(inputs.q, cache, params, { warmup: 0, repeats: 1 })));
      samplesMs = await deps.api.benchmarkDecode(inputs.q, cache, params, { warmup, repeats: settings.repeats });
    } catch (err) {
      if (toCellError(err).code !== 'ERR_QATTN_UNSUPPORTED') throw err;
      // No device timers (cpu): the awaited typed-array call on the host clock — the real cost on the CPU; on a GPU
      // backend it would include q's upload and the output's download, and the timer says so.
      timer = row.backend === 'cpu' ? 'host' : 'host (typed call: upload, decode, download)';
      const filled = cache;
      const warmupStart = now();
      for (let i = 0; i < settings.warmup || (now() - warmupStart < warmupMs && i < MAX_WARMUP_CALLS); i++) await deps.api.turboDecode(inputs.q, filled, options);
      samplesMs = [];
      for (let i = 0; i < settings.repeats; i++) {
        const start = now();
        await deps.api.turboDecode(inputs.q, filled, options);
        samplesMs.push(now() - start);
      }
    }
    row.step = stepTiming(samplesMs, timer);
    if (row.backend !== 'cpu') row.deviceStep = await measureDeviceStep(row, cache, inputs.q, params, settings, deps, now);
  } catch (err) {
    row.error = toCellError(err);
    row.status = statusOf(row.error);
  } finally {
    cache?.dispose();
  }
  return withBandwidth(row);
}

/**
 * Runs the planned rows in order (shape-major, see `planRows`); rows already `unavailable` or `skipped` are kept as
 * they are. Returns the rows with their measurements.
 */
export async function runDecodeCache(planned: DecodeCacheRow[], settings: DecodeCacheSettings, deps: DecodeCacheDependencies): Promise<DecodeCacheRow[]> {
  const runnable = (r: DecodeCacheRow) => r.status === 'ok';
  // One draw per family, at the family's longest key length; freed once its last row has run.
  const longest = new Map<string, number>();
  const remaining = new Map<string, number>();
  for (const row of planned.filter(runnable)) {
    const key = familyKey(row.shape);
    longest.set(key, Math.max(longest.get(key) ?? 0, row.shape.seqKV));
    remaining.set(key, (remaining.get(key) ?? 0) + 1);
  }
  const draws = new Map<string, InputTensors>();
  let current: { label: string; shape: CellShape; inputs: InputTensors; reference: ShapeReference | Error | undefined; backends: Set<BackendName> } | undefined;
  const results: DecodeCacheRow[] = [];
  let done = 0;
  // The shape's peers run after its rows, while its inputs are still held.
  const flushShapePeers = async () => {
    if (!current || !deps.shapePeers) return;
    const { shape, inputs, reference } = current;
    deps.onProgress?.(done, planned.length, `peers of ${current.label}`);
    const score: ScoreOutput = (out) => {
      if (reference instanceof Error) return { accuracyError: toCellError(reference) };
      if (!reference) return {};
      try {
        return { accuracy: scoreAgainst(deps.reference, out, shape, reference) };
      } catch (err) {
        return { accuracyError: toCellError(err) };
      }
    };
    await deps.shapePeers(shape, inputs, score, current.backends);
  };
  for (const row of planned) {
    deps.onProgress?.(done, planned.length, `${row.backend} ${row.cache} ${shapeLabel(row.shape)}`);
    if (!runnable(row)) {
      results.push(row);
      done++;
      continue;
    }
    const key = familyKey(row.shape);
    const label = shapeLabel(row.shape);
    if (current?.label !== label) {
      await flushShapePeers();
      current = undefined; // the previous shape's prefixes go before the next are cut
      let draw = draws.get(key);
      if (!draw) {
        draw = deps.inputs.generate(apiShape({ ...row.shape, seqKV: longest.get(key)! }), settings.seed);
        draws.set(key, draw);
      }
      const { batch, kvHeads, seqKV, headDim } = row.shape;
      const full = longest.get(key)!;
      const inputs = { q: draw.q, k: kvPrefix(draw.k, batch, kvHeads, full, seqKV, headDim), v: kvPrefix(draw.v, batch, kvHeads, full, seqKV, headDim) };
      let reference: ShapeReference | Error | undefined;
      if (settings.accuracy) {
        try {
          reference = buildReference(deps.reference, row.shape, inputs, settings.referenceOpsBudget);
        } catch (err) {
          reference = err instanceof Error ? err : new Error(String(err));
        }
      }
      current = { label, shape: row.shape, inputs, reference, backends: new Set() };
    }
    current.backends.add(row.backend);
    results.push(await measureRow(row, current.inputs, current.reference, settings, deps));
    remaining.set(key, remaining.get(key)! - 1);
    if (remaining.get(key) === 0) draws.delete(key);
    done++;
  }
  await flushShapePeers();
  deps.onProgress?.(planned.length, planned.length, 'done');
  return results;
}
