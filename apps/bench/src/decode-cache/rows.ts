/**
 * The pure part of the decode-cache preset: what a row is, how the rows of a run are planned (unavailable and
 * over-budget rows decided before anything runs), the bytes and GB/s of a decode step, timing statistics, which
 * (sequence, kv head) slices the float64 reference checks, and how prompt K/V of a shorter length are cut from a
 * longer draw. Everything here is a function of numbers, unit-tested in test/decode-cache.test.ts.
 */
import type { CellShape } from '../metrics.js';
import type { CallStats } from '../overhead/stats.js';
import { quantile } from '../overhead/stats.js';
import type { BackendName } from '../presets.js';
import type { CellError, CellStatus } from '../sweep.js';
import { type CacheKindName, CACHE_KINDS, cacheKindOptions } from './kinds.js';

/** The turbo-attn variants a decode step can run: package defaults (SAS), or exact exp2 (`sas: false`). */
export const DECODE_ALGORITHMS = ['turbo-attn', 'turbo-attn-exp2'] as const;
export type DecodeAlgorithm = (typeof DECODE_ALGORITHMS)[number];

/** The turboDecode options of each variant (before `--options`). */
export const DECODE_ALGORITHM_OPTIONS: Record<DecodeAlgorithm, { sas?: boolean }> = { 'turbo-attn': {}, 'turbo-attn-exp2': { sas: false } };

/**
 * What a decode step reads, for GB/s: `KVCache.memory().allocatedBytes` — every byte the cache has allocated (pages
 * with their codes, integer step/zero and INT8 scales; the float32 sink tokens; the INT8 buffers and their scales; the
 * page tables, lengths and running K means). The cache is created with `capacity` = the prompt length, so nothing is
 * reserved beyond the tokens held. Not counted: q, the output, the LSE and split-KV's partial states (≈ 0.2% of a 4-bit
 * cache at 4K keys, B4 H32/8 D128, less at longer caches).
 */
export const BYTES_PER_STEP_DEFINITION =
  'KVCache.memory().allocatedBytes of a cache created with capacity = the prompt length (pages: codes, integer step/zero, ' +
  'INT8 scales; float32 sinks; INT8 buffers with scales; page tables, lengths, K means); q, output, LSE and split-KV ' +
  'partial states not counted';

/** Median, spread and every sample of a decode step's time, in milliseconds. */
export interface StepTiming {
  /** `events` (CUDA), `timestamp-query` (WebGPU), `host` (performance.now around an awaited typed-array call). */
  timer: string;
  medianMs: number;
  minMs: number;
  p10Ms: number;
  p90Ms: number;
  maxMs: number;
  samplesMs: number[];
}

/** Statistics of decode-step samples (milliseconds); p10/p90 interpolated as the overhead mode's. */
export function stepTiming(samplesMs: readonly number[], timer: string): StepTiming {
  if (samplesMs.length === 0) throw new RangeError('stepTiming of an empty sample');
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    timer,
    medianMs: quantile(sorted, 0.5),
    minMs: sorted[0],
    p10Ms: quantile(sorted, 0.1),
    p90Ms: quantile(sorted, 0.9),
    maxMs: sorted[sorted.length - 1],
    samplesMs: [...samplesMs],
  };
}

/** Achieved bandwidth: `bytes` moved in `ms` milliseconds, in GB/s (10⁹ bytes per second). */
export function gbPerSecond(bytes: number, ms: number): number {
  if (!(ms > 0)) throw new RangeError(`gbPerSecond: time must be positive, got ${ms} ms`);
  return bytes / (ms * 1e-3) / 1e9;
}

/** What `KVCache.memory()` reported, as kept in the report. */
export interface CacheMemory {
  allocatedBytes: number;
  fp16Bytes: number;
  compressionRatio: number;
  parts: { pages: number; sinks: number; buffers: number; tables: number };
}

/** Host overhead of one device-resident decode step (q already on the device), measured as the overhead preset does. */
export interface DeviceStepOverhead {
  status: 'ok' | 'unsupported' | 'error';
  error?: CellError;
  /** Wall time of sequential awaited device-resident steps (the call resolves when its kernels have finished). */
  wall?: CallStats;
  /** The step's median device time (the row's `step.medianMs`: CUDA events, WebGPU timestamp queries). */
  kernelMedianUs?: number;
  /** wall median − kernel median, never below 0. */
  hostOverheadUs?: number;
  targetUs?: number;
  pass?: boolean;
}

/** Accuracy of the decode output against float64 attention over the original (unquantized) K/V. */
export interface DecodeAccuracy {
  relL2: number;
  cos: number;
  maxAbs: number;
  /** Which (sequence, kv head) slices were compared: see {@link accuracySlices}. */
  slices: string;
}

/** One (backend, shape, cache kind, variant) of the decode-cache preset. */
export interface DecodeCacheRow {
  algorithm: DecodeAlgorithm;
  backend: BackendName;
  cache: CacheKindName;
  /** What `createKVCache` got besides the shape, backend and capacity. */
  cacheOptions: ReturnType<typeof cacheKindOptions>;
  shape: CellShape;
  status: CellStatus;
  error?: CellError;
  /** Host wall time of filling the cache with the prompt (every append awaited) and the number of appends. */
  fill?: { ms: number; appends: number };
  memory?: CacheMemory;
  step?: StepTiming;
  /** Bytes a step reads ({@link BYTES_PER_STEP_DEFINITION}). */
  bytesPerStep?: number;
  /** bytesPerStep / step.medianMs. */
  gbps?: number;
  accuracy?: DecodeAccuracy;
  accuracyError?: CellError;
  deviceStep?: DeviceStepOverhead;
}

/** Why a backend has no rows to measure (decided once, before the run). */
export interface BackendVerdict {
  available: boolean;
  reason?: string;
}

/** Work of one decode step in giga-operations (4 · B · H · Sq · Skv · D, as the sweep counts attention). */
export function decodeStepGop(shape: CellShape): number {
  return (4 * shape.batch * shape.heads * shape.seqQ * shape.seqKV * shape.headDim) / 1e9;
}

/**
 * Plans the rows of a run, shape-major (so one draw of K/V serves every row of a shape): backends × cache kinds ×
 * variants per shape. Rows of an unavailable backend are `unavailable` with its reason; cpu rows above `cpuMaxGop`
 * are `skipped`; every other row is `ok` until measured.
 */
export function planRows(
  shapes: CellShape[],
  backends: BackendName[],
  caches: CacheKindName[],
  algorithms: DecodeAlgorithm[],
  verdicts: Partial<Record<BackendName, BackendVerdict>>,
  cpuMaxGop: number,
): DecodeCacheRow[] {
  const rows: DecodeCacheRow[] = [];
  for (const shape of shapes) {
    for (const backend of backends) {
      for (const cache of caches) {
        for (const algorithm of algorithms) {
          const row: DecodeCacheRow = { algorithm, backend, cache, cacheOptions: cacheKindOptions(CACHE_KINDS[cache]), shape, status: 'ok' };
          const verdict = verdicts[backend];
          const gop = decodeStepGop(shape);
          if (verdict && !verdict.available) {
            row.status = 'unavailable';
            row.error = { code: 'ERR_QATTN_BACKEND_UNAVAILABLE', message: verdict.reason ?? 'unavailable' };
          } else if (backend === 'cpu' && gop > cpuMaxGop) {
            row.status = 'skipped';
            row.error = { code: 'ERR_BENCH_CPU_BUDGET', message: `${gop.toFixed(2)} GOP per step > --cpu-max-gop ${cpuMaxGop}` };
          }
          rows.push(row);
        }
      }
    }
  }
  return rows;
}

/** Fills in what the measured numbers imply: the bytes a step reads and the achieved GB/s. */
export function withBandwidth(row: DecodeCacheRow): DecodeCacheRow {
  if (!row.memory || !row.step) return row;
  const bytesPerStep = row.memory.allocatedBytes;
  return { ...row, bytesPerStep, gbps: gbPerSecond(bytesPerStep, row.step.medianMs) };
}

/** The (sequence, kv head) slices the float64 reference is computed on, and a line saying which. */
export interface AccuracySlices {
  slices: Array<{ batch: number; kvHead: number }>;
  description: string;
}

/**
 * Which (sequence b, kv head g) slices of a shape the float64 reference checks: each slice is every query head of g
 * (the GQA group) × the query tokens × all keys. The JavaScript reference costs 4 · group · Sq · Skv · D
 * multiply-adds per slice; as many slices as fit in `opsBudget` (at least one), spread evenly over b × g so that
 * every sequence is represented when the budget allows.
 */
export function accuracySlices(shape: CellShape, opsBudget: number): AccuracySlices {
  const group = shape.heads / shape.kvHeads;
  const total = shape.batch * shape.kvHeads;
  const perSlice = 4 * group * shape.seqQ * shape.seqKV * shape.headDim;
  const count = Math.max(1, Math.min(total, Math.floor(opsBudget / perSlice)));
  const slices = Array.from({ length: count }, (_, i) => {
    const index = Math.floor((i * total) / count);
    return { batch: Math.floor(index / shape.kvHeads), kvHead: index % shape.kvHeads };
  });
  const which = count === total ? `all ${total} (sequence, kv head) slices` : `${count} of ${total} (sequence, kv head) slices, evenly spread`;
  return { slices, description: `${which}: every query head of each (${group} per kv head), all ${shape.seqKV} keys` };
}

/**
 * The first `seq` tokens of every (sequence, kv head) of a `[batch, kvHeads, fullSeq, headDim]` tensor, as a new
 * `[batch, kvHeads, seq, headDim]` array. The reference generator draws tokens independently after the sink at token
 * 0, so a prefix of a long draw is a draw of the shorter length (and generating once at the longest length is what
 * keeps the 64K preset within minutes in JavaScript).
 */
export function kvPrefix(full: Float32Array, batch: number, kvHeads: number, fullSeq: number, seq: number, headDim: number): Float32Array {
  if (seq > fullSeq) throw new RangeError(`kvPrefix: ${seq} tokens from a draw of ${fullSeq}`);
  if (full.length !== batch * kvHeads * fullSeq * headDim) throw new RangeError(`kvPrefix: ${full.length} elements, not [${batch}, ${kvHeads}, ${fullSeq}, ${headDim}]`);
  if (seq === fullSeq) return full;
  const out = new Float32Array(batch * kvHeads * seq * headDim);
  for (let slice = 0; slice < batch * kvHeads; slice++) {
    out.set(full.subarray(slice * fullSeq * headDim, slice * fullSeq * headDim + seq * headDim), slice * seq * headDim);
  }
  return out;
}

/**
 * Tokens `[from, from + count)` of every (sequence, kv head) of a `[batch, kvHeads, seq, headDim]` tensor, as a new
 * `[batch, kvHeads, count, headDim]` array: one append of a prompt filled in chunks.
 */
export function kvChunk(kv: Float32Array, batch: number, kvHeads: number, seq: number, headDim: number, from: number, count: number): Float32Array {
  if (from === 0 && count === seq) return kv;
  const out = new Float32Array(batch * kvHeads * count * headDim);
  for (let slice = 0; slice < batch * kvHeads; slice++) {
    const start = (slice * seq + from) * headDim;
    out.set(kv.subarray(start, start + count * headDim), slice * count * headDim);
  }
  return out;
}

/**
 * The rows of q (or of the output) `[batch, heads, seqQ, headDim]` that belong to the query heads of kv head `kvHead`
 * in sequence `batch`: a contiguous `[group, seqQ, headDim]` view.
 */
export function groupRows(tensor: Float32Array, shape: CellShape, slice: { batch: number; kvHead: number }): Float32Array {
  const group = shape.heads / shape.kvHeads;
  const rowLength = shape.seqQ * shape.headDim;
  const start = (slice.batch * shape.heads + slice.kvHead * group) * rowLength;
  return tensor.subarray(start, start + group * rowLength);
}
