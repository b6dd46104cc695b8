/**
 * The pure part of the overhead benchmark: statistics of per-call wall times, host overhead against the kernel time,
 * the targets of issue 8 and the leak verdict. Everything here is a function of numbers, unit-tested with fakes.
 */
import type { GpuBackendName } from '../packages.js';

/** Which public entry a row measures: device-resident tensors in and out, or typed arrays (uploads and download included). */
export type EntryKind = 'device' | 'typed';

/** Distribution of the wall time of sequential awaited calls, in microseconds. */
export interface CallStats {
  calls: number;
  medianUs: number;
  meanUs: number;
  p10Us: number;
  p90Us: number;
  minUs: number;
  maxUs: number;
}

/** The p-quantile (0 ≤ p ≤ 1) of an ascending sample, linearly interpolated between neighbours. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of an empty sample');
  const position = Math.min(Math.max(p, 0), 1) * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

/** Statistics of per-call wall times given in milliseconds (performance.now() deltas), reported in microseconds. */
export function callStats(samplesMs: readonly number[]): CallStats {
  if (samplesMs.length === 0) throw new RangeError('callStats of an empty sample');
  const sorted = samplesMs.map((ms) => ms * 1e3).sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    calls: sorted.length,
    medianUs: quantile(sorted, 0.5),
    meanUs: sum / sorted.length,
    p10Us: quantile(sorted, 0.1),
    p90Us: quantile(sorted, 0.9),
    minUs: sorted[0],
    maxUs: sorted[sorted.length - 1],
  };
}

/**
 * Host overhead of a call: its median wall time minus the median device time of the same work (quantization and
 * attention kernels, from the package's benchmark hook: CUDA events or WebGPU timestamp queries). For a typed-array
 * call this includes the uploads and the download, which is what a caller of that entry pays. Never negative: a wall
 * time under the kernel time (clock noise at a few microseconds) counts as no overhead.
 */
export function hostOverheadUs(wall: CallStats, kernelMedianUs: number): number {
  return Math.max(0, wall.medianUs - kernelMedianUs);
}

/** Host-overhead targets in microseconds per entry; a backend without targets is measured and reported only. */
export type OverheadTargets = Partial<Record<GpuBackendName, Partial<Record<EntryKind, number>>>>;

/**
 * Issue 8's targets at the tiny shape B1 H2 N64 D64 on CUDA: a device-resident call within 40 µs of host overhead, a
 * typed-array call within 150 µs (measured before the plan cache on an H200: 273 µs and 614 µs). WebGPU has none:
 * its submit and map round trips go through Dawn's own threads and are reported for comparison only.
 */
export const OVERHEAD_TARGETS: OverheadTargets = { cuda: { device: 40, typed: 150 } };

/** A point-in-time view of the memory a long run of calls could leak. */
export interface MemorySnapshot {
  /** Device allocations alive across every package (`CudaRuntime.liveBuffers()`); absent on WebGPU. */
  liveBuffers?: number;
  /** Free device memory (`CudaRuntime.memInfo().free`); absent on WebGPU. */
  deviceFreeBytes?: number;
  /** Resident set size of the process, after a garbage collection when the bench could trigger one. */
  rssBytes: number;
}

/**
 * How much growth across the measured calls is not a leak.
 * - live buffers: none over all the calls. Every buffer a call allocates must be freed by the time it resolves (plans
 *   made during the warm-up calls stay cached, and they exist before the first snapshot).
 * - device memory and RSS: judged over the second half of the calls, so that pools and heaps which grow to a
 *   high-water mark and stay there (V8's heap, the allocator's arenas, a driver's staging pools) are not taken for a
 *   leak, while anything that grows with the number of calls is: 8 MiB of device memory (the allocator's granularity
 *   plus the driver's bookkeeping) and 32 MiB of RSS per half. A leaked 32 KiB output per call would be 156 MiB in
 *   the second half of 10k calls.
 */
export interface LeakLimits {
  liveBuffers: number;
  deviceBytes: number;
  rssBytes: number;
}

export const LEAK_LIMITS: LeakLimits = { liveBuffers: 0, deviceBytes: 8 * 2 ** 20, rssBytes: 32 * 2 ** 20 };

/** Memory before, halfway through and after a run of calls, the growth of each measure, and the verdict. */
export interface LeakCheck {
  calls: number;
  before: MemorySnapshot;
  /** After half of the calls: device memory and RSS are judged from here to `after`. */
  mid?: MemorySnapshot;
  after: MemorySnapshot;
  liveBuffersDelta?: number;
  /** Device memory lost over all the calls: free before − free after. */
  deviceBytesDelta?: number;
  /** Device memory lost over the second half (judged). */
  deviceBytesDeltaSecondHalf?: number;
  /** RSS growth over all the calls. */
  rssBytesDelta: number;
  /** RSS growth over the second half (judged). */
  rssBytesDeltaSecondHalf?: number;
  pass: boolean;
  /** One line per measure over its limit. */
  failures: string[];
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * Compares the snapshots around `calls` calls against `limits`: live buffers over all the calls; device memory and RSS
 * over the second half when `mid` is given (over all the calls otherwise).
 */
export function leakCheck(calls: number, before: MemorySnapshot, after: MemorySnapshot, limits: LeakLimits = LEAK_LIMITS, mid?: MemorySnapshot): LeakCheck {
  const failures: string[] = [];
  const check: LeakCheck = { calls, before, ...(mid ? { mid } : {}), after, rssBytesDelta: after.rssBytes - before.rssBytes, pass: true, failures };
  const from = mid ?? before;
  const span = mid ? `over the last ${calls - Math.floor(calls / 2)} of ${calls} calls` : `over ${calls} calls`;
  if (before.liveBuffers !== undefined && after.liveBuffers !== undefined) {
    check.liveBuffersDelta = after.liveBuffers - before.liveBuffers;
    if (check.liveBuffersDelta > limits.liveBuffers) failures.push(`${check.liveBuffersDelta} more live device buffers after ${calls} calls`);
  }
  if (before.deviceFreeBytes !== undefined && after.deviceFreeBytes !== undefined) {
    check.deviceBytesDelta = before.deviceFreeBytes - after.deviceFreeBytes;
    const judged = (from.deviceFreeBytes ?? before.deviceFreeBytes) - after.deviceFreeBytes;
    if (mid) check.deviceBytesDeltaSecondHalf = judged;
    if (judged > limits.deviceBytes) failures.push(`${mib(judged)} less free device memory ${span} (limit ${mib(limits.deviceBytes)})`);
  }
  const rssJudged = after.rssBytes - from.rssBytes;
  if (mid) check.rssBytesDeltaSecondHalf = rssJudged;
  if (rssJudged > limits.rssBytes) failures.push(`RSS grew ${mib(rssJudged)} ${span} (limit ${mib(limits.rssBytes)})`);
  check.pass = failures.length === 0;
  return check;
}

/** The verdict on one entry's overhead: the target (if the backend has one) and whether the overhead is within it. */
export function overheadVerdict(backend: GpuBackendName, entry: EntryKind, overheadUs: number, targets: OverheadTargets = OVERHEAD_TARGETS): { targetUs?: number; pass?: boolean } {
  const targetUs = targets[backend]?.[entry];
  return targetUs === undefined ? {} : { targetUs, pass: overheadUs <= targetUs };
}
