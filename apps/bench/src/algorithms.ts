import type { BenchmarkResult } from '@qattn/quant-core';
import { float32Attention } from './baseline.js';
import { median } from './metrics.js';
import { withTimedWarmup } from './warmup.js';
import type { ApiBackendStatus, ApiShape, KernelPackage } from './packages.js';
import { type AlgorithmId, type BackendName, BACKEND_NAMES } from './presets.js';

/** How a time was measured. `host` = performance.now() around synchronous CPU work. */
export type TimerKind = 'events' | 'timestamp-query' | 'host' | 'host-fallback' | (string & {});

/** One timed cell, whatever produced it: a package's benchmark result, or the bench's own host timing. */
export interface Timing extends Omit<BenchmarkResult, 'backend' | 'timer'> {
  timer: TimerKind;
  /**
   * The kernel path the backend reports having run, where it reports one (flash-int8's WebGPU backend: the dot4 or
   * subgroup-matrix kernel).
   */
  path?: string;
  /** Why the backend ran that path rather than a faster one (a fallback's reason). */
  pathNote?: string;
  /** Unrecorded calls made before the recorded ones, where a time-based warm-up raised the count (`warmupCalls`). */
  warmupCalls?: number;
}

export interface InputTensors {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

/** Everything a timing call may need; inputs are produced lazily (GPU hooks make their own, device-resident). */
export interface TimingRequest {
  shape: ApiShape;
  causal: boolean;
  backend: BackendName;
  warmup: number;
  /**
   * GPU backends: the least wall time the unrecorded calls should take (0: count only). A count alone is not enough
   * after CPU-only work (the float64 reference, host inputs): the GPU is then at idle clocks, and a few calls of a
   * millisecond do not bring it up (see `warmupCalls`).
   */
  warmupMs?: number;
  repeats: number;
  seed: number;
  inputs: () => Promise<InputTensors>;
}

/** Availability of one backend for one algorithm. */
export interface BackendAvailability {
  available: boolean;
  reason?: string;
}

/** One algorithm of the sweep, over whichever backends it has. */
export interface Algorithm {
  id: AlgorithmId;
  /** Human description for the table's legend and the JSON. */
  description: string;
  /** The package that implements it, or `apps/bench` for the float baseline. */
  source: string;
  backends(): Promise<Record<BackendName, BackendAvailability>>;
  time(request: TimingRequest): Promise<Timing>;
  run(inputs: InputTensors, shape: ApiShape, causal: boolean, backend: BackendName): Promise<Float32Array>;
}

/** The fields of a package's benchmark result that the bench keeps (no `backend`, defined fields only). */
export function timingOf(result: Omit<BenchmarkResult, 'backend' | 'timer'> & { timer?: string; path?: unknown; pathNote?: unknown }, fallbackTimer: TimerKind): Timing {
  const timing: Timing = { medianMs: result.medianMs, minMs: result.minMs, samplesMs: result.samplesMs, timer: result.timer ?? fallbackTimer };
  if (typeof result.path === 'string') timing.path = result.path;
  if (typeof result.pathNote === 'string') timing.pathNote = result.pathNote;
  if (result.quantMs !== undefined) timing.quantMs = result.quantMs;
  if (result.attnMs !== undefined) timing.attnMs = result.attnMs;
  if (result.peakDeviceBytes !== undefined) timing.peakDeviceBytes = result.peakDeviceBytes;
  return timing;
}

/** Times `fn` with performance.now(): `warmup` unrecorded calls, then `repeats` recorded ones. */
export async function hostTiming(fn: () => unknown, warmup: number, repeats: number, timer: TimerKind = 'host'): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const samplesMs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await fn();
    samplesMs.push(performance.now() - start);
  }
  return { medianMs: median(samplesMs), minMs: Math.min(...samplesMs), samplesMs, timer };
}

/** An error with a qattn-style code raised by the bench itself. */
export class BenchError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BenchError';
  }
}

function allUnavailable(reason: string): Record<BackendName, BackendAvailability> {
  return Object.fromEntries(BACKEND_NAMES.map((name) => [name, { available: false, reason }])) as Record<BackendName, BackendAvailability>;
}

/** Probes a kernel package's backends once; a package without a `…Backends` export is assumed to have cpu only. */
function backendProbe(pkg: KernelPackage): () => Promise<Record<BackendName, BackendAvailability>> {
  let cached: Promise<Record<BackendName, BackendAvailability>> | undefined;
  const probe = async (): Promise<Record<BackendName, BackendAvailability>> => {
    if (pkg.loadError) return allUnavailable(pkg.loadError);
    if (!pkg.attention && !pkg.benchmark) return allUnavailable(`${pkg.name} exports neither its attention function nor its benchmark hook yet`);
    const out = allUnavailable(`${pkg.name} does not report this backend`);
    if (!pkg.backends) {
      out.cpu = { available: true, reason: `assumed: ${pkg.name} exports no backend status` };
      return out;
    }
    let statuses: ApiBackendStatus[];
    try {
      statuses = await pkg.backends();
    } catch (err) {
      return allUnavailable(`${pkg.name} backend status failed: ${(err as Error).message}`);
    }
    for (const status of statuses) {
      if ((BACKEND_NAMES as readonly string[]).includes(status.name)) {
        out[status.name] = status.available ? { available: true } : { available: false, reason: status.reason ?? 'unavailable' };
      }
    }
    return out;
  };
  return () => (cached ??= probe());
}

/**
 * An algorithm of a kernel package. Timing goes through the package's benchmark hook (GPU events / timestamp queries
 * on the GPU); without a hook, the cpu backend is timed on the host around the public function (`host-fallback`) and
 * GPU backends are refused, because a host timer around asynchronous GPU work measures transfers and scheduling.
 */
function kernelAlgorithm(id: AlgorithmId, pkg: KernelPackage, description: string, extraOptions: Record<string, unknown>): Algorithm {
  return {
    id,
    description,
    source: pkg.name,
    backends: backendProbe(pkg),
    async time(request) {
      const options = { ...extraOptions, causal: request.causal, backend: request.backend };
      const benchmark = pkg.benchmark;
      if (benchmark) {
        const { seed } = request;
        const warmupMs = request.backend === 'cpu' ? 0 : (request.warmupMs ?? 0);
        const { result, warmup } = await withTimedWarmup((w, repeats) => benchmark(request.shape, options, { warmup: w, repeats, seed }), request.warmup, request.repeats, warmupMs);
        const timing = timingOf(result, request.backend === 'cpu' ? 'host' : 'unreported');
        if (warmupMs > 0) timing.warmupCalls = warmup;
        return timing;
      }
      const attention = pkg.attention;
      if (!attention) throw new BenchError('ERR_BENCH_NO_API', `${pkg.name} exports no attention function`);
      if (request.backend !== 'cpu') {
        throw new BenchError(
          'ERR_BENCH_NO_HOOK',
          `${pkg.name} exports no benchmark hook; GPU time needs device timers, a host timer is used for cpu only`,
        );
      }
      const { q, k, v } = await request.inputs();
      return hostTiming(() => attention(q, k, v, request.shape, options), request.warmup, request.repeats, 'host-fallback');
    },
    async run(inputs, shape, causal, backend) {
      if (!pkg.attention) throw new BenchError('ERR_BENCH_NO_API', `${pkg.name} exports no attention function`);
      return pkg.attention(inputs.q, inputs.k, inputs.v, shape, { ...extraOptions, causal, backend });
    },
  };
}

/** The float baseline of the bench itself: cpu only, host timer around synchronous work. */
export function float32Algorithm(): Algorithm {
  return {
    id: 'float32',
    description: 'plain float32 attention written in the bench (scores materialized per row, no quantization), cpu only',
    source: '@qattn/bench',
    async backends() {
      const out = allUnavailable('the float baseline is a CPU kernel');
      out.cpu = { available: true };
      return out;
    },
    async time(request) {
      if (request.backend !== 'cpu') throw new BenchError('ERR_QATTN_BACKEND_UNAVAILABLE', 'the float baseline runs on cpu only');
      const { q, k, v } = await request.inputs();
      return hostTiming(() => float32Attention(q, k, v, request.shape, { causal: request.causal }), request.warmup, request.repeats);
    },
    async run(inputs, shape, causal, backend) {
      if (backend !== 'cpu') throw new BenchError('ERR_QATTN_BACKEND_UNAVAILABLE', 'the float baseline runs on cpu only');
      return float32Attention(inputs.q, inputs.k, inputs.v, shape, { causal });
    },
  };
}

/** The package, the fixed options and the description behind each kernel algorithm of the bench. */
export const KERNEL_ALGORITHMS: Record<Exclude<AlgorithmId, 'float32'>, { pkg: 'flashInt8' | 'turbo'; options: Record<string, unknown>; description: string }> = {
  'flash-int8-pv-int8': { pkg: 'flashInt8', options: { pv: 'int8' }, description: 'INT-FlashAttention, INT8 Q·Kᵀ and INT8 P·V (package defaults)' },
  'flash-int8-pv-fp16': { pkg: 'flashInt8', options: { pv: 'fp16' }, description: 'INT-FlashAttention, INT8 Q·Kᵀ, fp16 P·V (package defaults)' },
  'turbo-attn': { pkg: 'turbo', options: {}, description: 'TurboAttention FlashQ INT8 with SAS softmax (package defaults)' },
  // SAS replaces the exponent unit's work with FMA-pipe work: it pays where the exponent unit is the limit and costs
  // where issue slots are (the sm80 mma.sync kernel); this row measures FlashQ without it.
  'turbo-attn-exp2': { pkg: 'turbo', options: { sas: false }, description: 'TurboAttention FlashQ INT8 with exact exp2 (sas: false)' },
};

/**
 * The algorithms of the sweep, built on the loaded packages. `extraOptions` (`--options`) are added to every
 * kernel algorithm's calls, after its fixed ones; the packages validate them (an unknown key is an error cell).
 */
export function createAlgorithms(packages: { flashInt8: KernelPackage; turbo: KernelPackage }, extraOptions: Record<string, unknown> = {}): Algorithm[] {
  const kernels = (Object.keys(KERNEL_ALGORITHMS) as Array<keyof typeof KERNEL_ALGORITHMS>).map((id) => {
    const { pkg, options, description } = KERNEL_ALGORITHMS[id];
    return kernelAlgorithm(id, packages[pkg], description, { ...options, ...extraOptions });
  });
  return [...kernels, float32Algorithm()];
}
