/**
 * The time-based warm-up of the bench's GPU timings. A warm-up counted in calls is not enough: GPU clocks drop while
 * the bench does CPU-only work (the float64 accuracy reference, host input generation, a cache fill), and a few calls
 * of a short kernel do not bring them back up — on an H200, WebGPU B4 H32 N1024 D128 read 18.2 ms per call after 3
 * warm-up calls and 4.9 ms after 50. So the warm-up also spans a least wall time (`--warmup-ms`).
 */

/** Longest warm-up, in calls, that a time-based warm-up may ask for (a probe of a few microseconds would ask for more). */
export const MAX_WARMUP_CALLS = 2000;

/**
 * Unrecorded calls for a warm-up of at least `countFloor` calls and at least `warmupMs` of work, given one call's time
 * `perCallMs` (a probe). Capped at MAX_WARMUP_CALLS; a probe (or `warmupMs`) that is not a positive finite time
 * leaves the count as it is.
 */
export function warmupCalls(countFloor: number, warmupMs: number, perCallMs: number): number {
  if (!(warmupMs > 0) || !Number.isFinite(warmupMs) || !(perCallMs > 0) || !Number.isFinite(perCallMs)) return countFloor;
  return Math.max(countFloor, Math.min(MAX_WARMUP_CALLS, Math.ceil(warmupMs / perCallMs)));
}

/**
 * Runs `bench(warmup, repeats)` for the record after a warm-up sized by `warmupCalls`: with `warmupMs` > 0, one
 * unrecorded probe call `bench(0, 1)` first times a call (at whatever clocks the GPU has, which only lengthens the
 * warm-up). `warmupMs` 0 is the count-only warm-up, without a probe. Returns the result and the warm-up used.
 */
export async function withTimedWarmup<T extends { medianMs: number }>(
  bench: (warmup: number, repeats: number) => Promise<T>,
  warmup: number,
  repeats: number,
  warmupMs: number,
): Promise<{ result: T; warmup: number }> {
  let calls = warmup;
  if (warmupMs > 0) calls = warmupCalls(warmup, warmupMs, (await bench(0, 1)).medianMs);
  return { result: await bench(calls, repeats), warmup: calls };
}
