/**
 * The overhead benchmark: for each (algorithm, GPU backend), many sequential awaited calls of its device-resident
 * entry and of its typed-array entry, each timed on the host; the kernel time of the same work from the package's
 * benchmark hook (CUDA events, WebGPU timestamp queries); host overhead = wall − kernel; and a leak check across the
 * calls (live device buffers, free device memory, RSS). The runner only sees {@link OverheadSubject}s, so tests drive
 * it with fakes; src/overhead/subjects.ts builds the real ones from the packages.
 */
import type { CudaTraceSummary } from '@qattn/cuda-runtime';
import type { BackendAvailability, InputTensors, Timing } from '../algorithms.js';
import { type CellShape, shapeLabel } from '../metrics.js';
import type { GpuBackendName } from '../packages.js';
import type { AlgorithmId } from '../presets.js';
import type { CellError } from '../sweep.js';
import {
  callStats,
  type CallStats,
  type EntryKind,
  hostOverheadUs,
  LEAK_LIMITS,
  leakCheck,
  type LeakCheck,
  type LeakLimits,
  type MemorySnapshot,
  OVERHEAD_TARGETS,
  type OverheadTargets,
  overheadVerdict,
} from './stats.js';
import type { TraceWindow } from './trace.js';

/** One prepared entry: inputs already where the entry wants them; `call()` is one awaited call, output released. */
export interface PreparedCall {
  call(): Promise<void>;
  /** Releases the inputs (device tensors); idempotent. */
  dispose(): void;
}

/** One algorithm on one GPU backend, reduced to what the overhead benchmark needs. */
export interface OverheadSubject {
  algorithm: AlgorithmId;
  backend: GpuBackendName;
  availability(): Promise<BackendAvailability>;
  /** Prepares the device-resident entry; throws `ERR_BENCH_NO_API` (unsupported) when the package has none. */
  prepareDevice(inputs: InputTensors, shape: CellShape): Promise<PreparedCall>;
  /** Prepares the typed-array entry (`backend` pinned to this subject's). */
  prepareTyped(inputs: InputTensors, shape: CellShape): Promise<PreparedCall>;
  /** Device time of one call from the package's benchmark hook. */
  kernelTime(shape: CellShape, warmup: number, repeats: number): Promise<Timing>;
  /** Memory now, after the device is idle and a garbage collection. */
  memory(): Promise<MemorySnapshot>;
  /** Releases the runtime's cached plans; resolves to what was called, or undefined when the runtime offers nothing. */
  releaseCaches(): Promise<string | undefined>;
  /** Starts tracing the runtime's jobs (src/overhead/trace.ts); undefined when it does not trace (QATTN_CUDA_TRACE unset). */
  traceWindow?(): TraceWindow | undefined;
}

/** Receives the runtime's stage trace of each measured run of calls, when the runtime traces. */
export type TraceSink = (title: string, summary: CudaTraceSummary) => void;

/** What the overhead benchmark runs. */
export interface OverheadSettings {
  /** Unrecorded calls per entry before the first snapshot (plans get built and cached here). */
  warmup: number;
  /** Recorded sequential calls per entry; the leak check spans them. */
  calls: number;
  /** Repeats of the kernel-time measurement (its warm-up is `warmup` capped at 20). */
  kernelRepeats: number;
  targets?: OverheadTargets;
  limits?: LeakLimits;
}

/** One entry of one row. */
export interface OverheadEntry {
  entry: EntryKind;
  status: 'ok' | 'error' | 'unsupported';
  error?: CellError;
  wall?: CallStats;
  /** Wall median − kernel median, when both were measured. */
  hostOverheadUs?: number;
  /** The backend's target for this entry, when it has one. */
  targetUs?: number;
  /** hostOverheadUs ≤ targetUs. */
  pass?: boolean;
  leak?: LeakCheck;
}

/** One (algorithm, GPU backend) of the overhead benchmark. */
export interface OverheadRow {
  algorithm: AlgorithmId;
  backend: GpuBackendName;
  shape: CellShape;
  status: 'ok' | 'error' | 'unavailable';
  error?: CellError;
  /** Median device time of one call (quantization + attention) from the benchmark hook. */
  kernel?: { medianUs: number; quantUs?: number; attnUs?: number; timer: string };
  kernelError?: CellError;
  entries: OverheadEntry[];
  /**
   * Memory after the inputs are freed and the runtime's plan caches released, against before the first call:
   * everything the row allocated must be gone. `released` names the call that emptied the caches; without one,
   * cached plans legitimately hold device buffers, and only RSS is judged.
   */
  final?: { released?: string; leak: LeakCheck };
  /** Every target met and no leak; undefined when nothing was measured. */
  pass?: boolean;
}

/** The overhead section of a report. */
export interface OverheadReport {
  settings: { warmup: number; calls: number; kernelRepeats: number };
  targets: OverheadTargets;
  limits: LeakLimits;
  rows: OverheadRow[];
}

export interface OverheadDependencies {
  subjects: OverheadSubject[];
  inputs: (shape: CellShape) => InputTensors;
  /** Clock in milliseconds (performance.now by default). */
  now?: () => number;
  onProgress?: (done: number, total: number, label: string) => void;
  onTrace?: TraceSink;
}

function toError(err: unknown): CellError {
  const candidate = err as { code?: unknown; message?: unknown };
  const code = typeof candidate?.code === 'string' ? candidate.code : 'ERR_BENCH_UNEXPECTED';
  const message = typeof candidate?.message === 'string' ? candidate.message : String(err);
  return { code, message: message.split('\n')[0] };
}

/** Runs one entry: warm-up, snapshot, `calls` timed calls (traced when the runtime traces), snapshot. */
async function measureEntry(
  kind: EntryKind,
  prepare: () => Promise<PreparedCall>,
  subject: OverheadSubject,
  settings: OverheadSettings,
  now: () => number,
  trace: { title: string; sink?: TraceSink },
): Promise<OverheadEntry> {
  let prepared: PreparedCall | undefined;
  try {
    prepared = await prepare();
    for (let i = 0; i < settings.warmup; i++) await prepared.call();
    const before = await subject.memory();
    const half = Math.floor(settings.calls / 2);
    let mid: MemorySnapshot | undefined;
    const samplesMs = new Array<number>(settings.calls);
    const window = trace.sink ? subject.traceWindow?.() : undefined;
    for (let i = 0; i < settings.calls; i++) {
      // Between two calls, outside any timed interval.
      if (i === half && half > 0) mid = await subject.memory();
      const start = now();
      await prepared.call();
      samplesMs[i] = now() - start;
    }
    if (window) trace.sink!(`${trace.title} ${kind}, ${settings.calls} calls`, window.take());
    const after = await subject.memory();
    return { entry: kind, status: 'ok', wall: callStats(samplesMs), leak: leakCheck(settings.calls, before, after, settings.limits ?? LEAK_LIMITS, mid) };
  } catch (err) {
    const error = toError(err);
    const unsupported = error.code === 'ERR_BENCH_NO_API' || error.code === 'ERR_QATTN_UNSUPPORTED';
    return { entry: kind, status: unsupported ? 'unsupported' : 'error', error };
  } finally {
    prepared?.dispose();
  }
}

/**
 * Measures one subject on one shape (see the module comment). Never throws: failures land in the row. `onTrace`
 * receives the runtime's stage trace of each entry's timed calls, when it traces.
 */
export async function measureSubject(
  subject: OverheadSubject,
  shape: CellShape,
  inputs: () => InputTensors,
  settings: OverheadSettings,
  now: () => number = () => performance.now(),
  onTrace?: TraceSink,
): Promise<OverheadRow> {
  const row: OverheadRow = { algorithm: subject.algorithm, backend: subject.backend, shape, status: 'ok', entries: [] };
  const availability = await subject.availability().catch((err: unknown) => ({ available: false, reason: toError(err).message }));
  if (!availability.available) {
    row.status = 'unavailable';
    row.error = { code: 'ERR_QATTN_BACKEND_UNAVAILABLE', message: availability.reason ?? 'unavailable' };
    return row;
  }
  try {
    const baseline = await subject.memory();
    const tensors = inputs();
    const trace = { title: `${subject.algorithm} ${subject.backend} ${shapeLabel(shape)}`, sink: onTrace };
    row.entries.push(await measureEntry('device', () => subject.prepareDevice(tensors, shape), subject, settings, now, trace));
    row.entries.push(await measureEntry('typed', () => subject.prepareTyped(tensors, shape), subject, settings, now, trace));
    try {
      const timing = await subject.kernelTime(shape, Math.min(settings.warmup, 20), settings.kernelRepeats);
      row.kernel = {
        medianUs: timing.medianMs * 1e3,
        ...(timing.quantMs !== undefined ? { quantUs: timing.quantMs * 1e3 } : {}),
        ...(timing.attnMs !== undefined ? { attnUs: timing.attnMs * 1e3 } : {}),
        timer: timing.timer,
      };
    } catch (err) {
      row.kernelError = toError(err);
    }
    const released = await subject.releaseCaches();
    const callsMade = 2 * (settings.warmup + settings.calls);
    row.final = { ...(released ? { released } : {}), leak: finalCheck(callsMade, baseline, await subject.memory(), released !== undefined, settings.limits ?? LEAK_LIMITS) };
  } catch (err) {
    row.status = 'error';
    row.error = toError(err);
  }
  for (const entry of row.entries) {
    if (entry.status !== 'ok' || !entry.wall || !row.kernel) continue;
    entry.hostOverheadUs = hostOverheadUs(entry.wall, row.kernel.medianUs);
    Object.assign(entry, overheadVerdict(subject.backend, entry.entry, entry.hostOverheadUs, settings.targets ?? OVERHEAD_TARGETS));
  }
  row.pass = rowVerdict(row);
  if (row.entries.some((e) => e.status === 'error') && row.status === 'ok') row.status = 'error';
  return row;
}

/**
 * Everything the row allocated on the device must be gone once its inputs are freed and the caches released. RSS is
 * reported but not judged here: allocators keep their high-water mark, and growth with the number of calls is what
 * the per-entry checks catch. Without a way to release the caches, the buffers they hold are not a leak: nothing is
 * judged.
 */
function finalCheck(calls: number, baseline: MemorySnapshot, after: MemorySnapshot, released: boolean, limits: LeakLimits): LeakCheck {
  const rssNotJudged = { ...limits, rssBytes: Number.POSITIVE_INFINITY };
  if (released) return leakCheck(calls, baseline, after, rssNotJudged);
  return leakCheck(calls, { rssBytes: baseline.rssBytes }, { rssBytes: after.rssBytes }, rssNotJudged);
}

/** A row passes when every measured entry meets its target, no leak check failed, and nothing errored. */
export function rowVerdict(row: OverheadRow): boolean | undefined {
  const measured = row.entries.filter((e) => e.status === 'ok');
  if (row.status !== 'ok' || measured.length === 0) return row.status === 'unavailable' ? undefined : false;
  if (row.entries.some((e) => e.status === 'error')) return false;
  const targetsMet = measured.every((e) => e.pass !== false);
  const noLeak = measured.every((e) => e.leak?.pass !== false) && row.final?.leak.pass !== false;
  return targetsMet && noLeak;
}

/** Runs every subject on every shape, in order. */
export async function runOverhead(shapes: CellShape[], settings: OverheadSettings, deps: OverheadDependencies): Promise<OverheadReport> {
  const rows: OverheadRow[] = [];
  const total = shapes.length * deps.subjects.length;
  for (const shape of shapes) {
    for (const subject of deps.subjects) {
      deps.onProgress?.(rows.length, total, `${subject.algorithm} ${subject.backend} ${shapeLabel(shape)}`);
      rows.push(await measureSubject(subject, shape, () => deps.inputs(shape), settings, deps.now, deps.onTrace));
    }
  }
  deps.onProgress?.(total, total, 'done');
  return {
    settings: { warmup: settings.warmup, calls: settings.calls, kernelRepeats: settings.kernelRepeats },
    targets: settings.targets ?? OVERHEAD_TARGETS,
    limits: settings.limits ?? LEAK_LIMITS,
    rows,
  };
}
