import {
  type AttentionKernelCapabilities,
  type AttentionKernelFlags,
  type AttentionProblem,
  type CudaBenchmarkResult,
  type CudaRuntime,
  type DeviceTensor,
  type SasEvaluation,
  assertKernelCompiled,
  chooseSasEvaluation,
  createAttentionRunner,
  getCudaRuntime,
} from '@qattn/cuda-runtime';
import { QattnError, type ResolvedShape } from '@qattn/quant-core';
import { assertTurboCallRanges } from '../input-ranges.js';
import type { TurboBackend, TurboCall } from '../backends.js';
import type { ResolvedTurboOptions } from '../options.js';
import { loadTurboAttnAddon } from './addon.js';

export type { CudaBenchmarkResult } from '@qattn/cuda-runtime';

/** FlashQ's INT8 P codes are signed int8: [0, 127] (as the CPU oracle's). */
const FLASHQ_P_CODE_MAX = 127;

/** Knobs of the CUDA kernels that are not options of `turboAttention`: for tests that compare code paths. */
export interface TurboCudaTuning {
  /**
   * Skip the P and P·V work of key tiles that SAS makes all-zero (default true with SAS). Exact, so turning it off
   * must not change the output: the tests check that.
   */
  skipSparseTiles?: boolean;
  /**
   * How SAS computes 2^x above its threshold (@qattn/cuda-runtime `SasEvaluation`): default the arch path's choice
   * (`chooseSasEvaluation`: the exponent unit on sm80), or the environment's `QATTN_CUDA_SAS_EVALUATION`
   * (`polynomial` | `unit`), the knob the bench uses to measure both in one run.
   */
  sasEvaluation?: SasEvaluation;
}

/** The environment variable that overrides the SAS evaluation of the CUDA kernels (a measurement knob). */
export const SAS_EVALUATION_ENV = 'QATTN_CUDA_SAS_EVALUATION';

function sasEvaluationFromEnv(): SasEvaluation | undefined {
  const value = typeof process === 'undefined' ? undefined : process.env[SAS_EVALUATION_ENV];
  if (value === undefined || value === '') return undefined;
  if (value !== 'polynomial' && value !== 'unit') {
    throw new QattnError('ERR_QATTN_OPTION', `${SAS_EVALUATION_ENV} must be 'polynomial' or 'unit', got '${value}'`, { option: SAS_EVALUATION_ENV });
  }
  return value;
}

/** The CUDA backend of turbo-attn: typed-array `run`, device-resident `runDevice`, and `benchmark`. */
export interface TurboCudaBackend extends TurboBackend {
  readonly name: 'cuda';
  readonly runtime: CudaRuntime;
  /** How SAS computes 2^x on this device unless tuned (the arch path's choice, or QATTN_CUDA_SAS_EVALUATION). */
  readonly sasEvaluation: SasEvaluation;
  run(call: TurboCall, tuning?: TurboCudaTuning): Promise<Float32Array>;
  runDevice(q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, call: Omit<TurboCall, 'q' | 'k' | 'v'>, tuning?: TurboCudaTuning): Promise<DeviceTensor<'float32'>>;
  benchmark(
    shape: ResolvedShape,
    scale: number,
    causal: boolean,
    options: ResolvedTurboOptions,
    settings: { warmup: number; repeats: number; seed?: number },
  ): Promise<CudaBenchmarkResult>;
}

/**
 * turbo-attn's options as the shared kernel layer's flags: FlashQ (Q per blockM queries, K and V per blockN keys,
 * P codes [0, 127] per row and key block) with SAS and its tile skip, or exact exp2 (`sas: false`).
 */
export function turboKernelFlags(options: ResolvedTurboOptions, tuning: TurboCudaTuning = {}, archPath: 'sm80' | 'sm90' = 'sm80'): AttentionKernelFlags {
  return {
    variant: {
      exponent: options.sas ? 'sas' : 'exp2',
      sasThreshold: options.sasThreshold,
      skipSparseTiles: options.sas && (tuning.skipSparseTiles ?? true),
      pScale: options.pScale,
      pCodeMax: FLASHQ_P_CODE_MAX,
      pv: 'int8',
    },
    keyBlock: options.blockN,
    qRowsPerScale: options.blockM,
    kRowsPerScale: options.blockN,
    vScalePerBlock: options.vGranularity === 'block',
    smoothK: options.smoothK,
    smoothV: options.smoothV,
    sasEvaluation: tuning.sasEvaluation ?? chooseSasEvaluation(archPath),
  };
}

/**
 * Throws `ERR_QATTN_UNSUPPORTED` for what the CUDA kernels do not implement: head dims and key blocks (`blockN`)
 * without a compiled kernel (@qattn/cuda-runtime's capabilities.json). Every other option runs: any `blockM` (Q's
 * scale block), SAS with any threshold or exact exp2, either P scale, V per block or per (block, channel), smoothing.
 */
export function assertTurboCudaSupports(shape: ResolvedShape, options: ResolvedTurboOptions, capabilities: AttentionKernelCapabilities): void {
  assertKernelCompiled('@qattn/turbo-attn cuda', capabilities, { headDim: shape.headDim, keyBlock: options.blockN });
}

/**
 * Creates the CUDA backend. Throws `ERR_QATTN_BACKEND_UNAVAILABLE` when the runtime or this package's addon cannot
 * load (no device, no driver, addon not built or stale: the message says which and how to build it).
 */
export async function createCudaBackend(): Promise<TurboCudaBackend> {
  const runtime = getCudaRuntime();
  const runner = createAttentionRunner({ packageName: '@qattn/turbo-attn', runtime, binding: loadTurboAttnAddon() });
  const envEvaluation = sasEvaluationFromEnv();
  const problem = (call: Omit<TurboCall, 'q' | 'k' | 'v'>, tuning?: TurboCudaTuning): AttentionProblem => {
    assertTurboCudaSupports(call.shape, call.options, runner.capabilities);
    const tuned = envEvaluation && tuning?.sasEvaluation === undefined ? { ...tuning, sasEvaluation: envEvaluation } : tuning;
    return { shape: call.shape, scale: call.scale, causal: call.causal, flags: turboKernelFlags(call.options, tuned, runner.archPath) };
  };

  return {
    name: 'cuda',
    runtime,
    sasEvaluation: envEvaluation ?? chooseSasEvaluation(runner.archPath),
    async run(call, tuning) {
      const planned = problem(call, tuning);
      // As the CPU backend: logits beyond MAX_BASE2_LOGIT are rejected rather than turned into NaN.
      assertTurboCallRanges(call);
      return runner.run(call.q, call.k, call.v, planned);
    },
    runDevice: async (q, k, v, call, tuning) => runner.runDevice(q, k, v, problem(call, tuning)),
    benchmark: async (shape, scale, causal, options, settings) => runner.benchmark(problem({ shape, scale, causal, options }), settings),
  };
}
