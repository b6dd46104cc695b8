import { QattnError } from './errors.js';
import { createRng } from './rng.js';

/**
 * The benchmark contract shared by the kernel packages (`flashInt8Benchmark`, `turboBenchmark`) and `qattn-bench`.
 * GPU backends time on the device (CUDA events, WebGPU timestamp queries) over device-resident inputs uploaded once;
 * the CPU backends time the synchronous work with the host clock.
 */

/** How many untimed and timed repetitions to run. */
export interface BenchmarkSettings {
  warmup: number;
  repeats: number;
  /** Seed of the generated inputs. Default 1. */
  seed?: number;
}

/** One benchmark result. Times are milliseconds. */
export interface BenchmarkResult {
  backend: string;
  /** The whole call, quantization included: median over the timed repetitions. */
  medianMs: number;
  minMs: number;
  samplesMs: number[];
  /** Quantization kernels alone (median), where the backend can separate them. */
  quantMs?: number;
  /** The attention kernel on pre-quantized inputs (median), where the backend can separate it. */
  attnMs?: number;
  /** Device bytes held by inputs, output and workspace. */
  peakDeviceBytes?: number;
  timer: 'events' | 'timestamp-query' | 'host';
}

/** Validates benchmark settings (`ERR_QATTN_OPTION` naming the bad field) and applies the seed default. */
export function resolveBenchmarkSettings(settings: BenchmarkSettings): Required<BenchmarkSettings> {
  const { warmup, repeats, seed = 1 } = settings ?? ({} as BenchmarkSettings);
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new QattnError('ERR_QATTN_OPTION', `benchmark settings: warmup must be an integer ≥ 0, got ${String(warmup)}`, { option: 'warmup' });
  }
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new QattnError('ERR_QATTN_OPTION', `benchmark settings: repeats must be an integer ≥ 1, got ${String(repeats)}`, { option: 'repeats' });
  }
  if (!Number.isInteger(seed)) {
    throw new QattnError('ERR_QATTN_OPTION', `benchmark settings: seed must be an integer, got ${String(seed)}`, { option: 'seed' });
  }
  return { warmup, repeats, seed };
}

/** Median of a non-empty sample. */
export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Deterministic uniform [−1, 1) inputs for benchmarks (mulberry32). Dense kernels' timing does not depend on the
 * values; kernels whose work does (SAS sparsity) say so in their benchmark.
 */
export function benchmarkData(length: number, seed: number): Float32Array {
  const uniform = createRng(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = uniform() * 2 - 1;
  return out;
}

/** Times a host-side workload: `warmup` untimed runs, then `repeats` timed ones, with the host clock. */
export async function timeOnHost(backend: string, settings: BenchmarkSettings, work: () => unknown): Promise<BenchmarkResult> {
  for (let i = 0; i < settings.warmup; i++) await work();
  const samplesMs: number[] = [];
  for (let i = 0; i < settings.repeats; i++) {
    const start = performance.now();
    await work();
    samplesMs.push(performance.now() - start);
  }
  return { backend, medianMs: median(samplesMs), minMs: Math.min(...samplesMs), samplesMs, timer: 'host' };
}
