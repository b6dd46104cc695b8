import {
  type AttentionKernelCapabilities,
  type AttentionKernelFlags,
  type AttentionProblem,
  type AttentionRunner,
  type CudaBenchmarkResult,
  type CudaRuntime,
  type DeviceTensor,
  assertKernelCompiled,
  createAttentionRunner,
  getCudaRuntime,
} from '@qattn/cuda-runtime';
import { QattnError, type ResolvedShape } from '@qattn/quant-core';
import type { FlashInt8Backend, FlashInt8Call } from '../backends.js';
import { type ResolvedFlashInt8Options, gpuPv } from '../options.js';
import { loadFlashInt8Addon } from './addon.js';

export type { CudaBenchmarkResult } from '@qattn/cuda-runtime';

/** Names this backend in errors. */
const CUDA_CONTEXT = '@qattn/flash-int8 cuda';

/** The CUDA backend of flash-int8: typed-array `run`, device-resident `runDevice`, and `benchmark`. */
export interface FlashInt8CudaBackend extends FlashInt8Backend {
  readonly name: 'cuda';
  readonly runtime: CudaRuntime;
  runDevice(q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, call: Omit<FlashInt8Call, 'q' | 'k' | 'v'>): Promise<DeviceTensor<'float32'>>;
  benchmark(
    shape: ResolvedShape,
    scale: number,
    causal: boolean,
    options: ResolvedFlashInt8Options,
    settings: { warmup: number; repeats: number; seed?: number },
  ): Promise<CudaBenchmarkResult>;
}

/**
 * flash-int8's options as the shared kernel layer's flags: INT-FlashAttention's variant (exact exp2, no sparsity, P
 * codes up to `pCodeMax` per row and key block), Q/K per token or per block of blockM queries / blockN keys, V per
 * (key block, channel).
 */
export function flashInt8KernelFlags(options: ResolvedFlashInt8Options): AttentionKernelFlags {
  const block = options.qkGranularity === 'block';
  const pv = gpuPv(options, CUDA_CONTEXT, 'cuda');
  return {
    variant: { exponent: 'exp2', sasThreshold: 0, skipSparseTiles: false, pScale: options.pScale, pCodeMax: options.pCodeMax, pv },
    // fp16 P·V has no key blocks; its kernel is compiled once, as 64.
    keyBlock: pv === 'fp16' ? 64 : options.blockN,
    qRowsPerScale: block ? options.blockM : 1,
    kRowsPerScale: block ? options.blockN : 1,
    vScalePerBlock: false,
    smoothK: options.smoothK,
    smoothV: options.smoothV,
  };
}

/**
 * Throws `ERR_QATTN_UNSUPPORTED` for what the CUDA kernels do not implement. They implement the CPU oracle's options:
 * Q/K per token or per block, K smoothing, 'rowmax' or 'global' P per key block with unsigned codes up to `pCodeMax`
 * 127 or 255 (u8×s8 MMA), V per (key block, channel), optional V smoothing, key blocks (blockN) of the compiled sizes,
 * and pv 'fp16'; head dims from @qattn/cuda-runtime's capabilities.json. (`hadamard` is exact and is not applied.)
 * `pv: 'fp8'` is CPU-only for now.
 */
export function assertCudaSupports(shape: ResolvedShape, options: ResolvedFlashInt8Options, capabilities: AttentionKernelCapabilities): void {
  gpuPv(options, CUDA_CONTEXT, 'cuda');
  if (options.pv === 'int8' && options.vGranularity !== 'blockChannel') {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `@qattn/flash-int8 cuda: pv 'int8' needs vGranularity 'blockChannel' (got '${options.vGranularity}')`, {
      backend: 'cuda',
      option: 'vGranularity',
    });
  }
  assertKernelCompiled(CUDA_CONTEXT, capabilities, { headDim: shape.headDim, keyBlock: options.pv === 'int8' ? options.blockN : undefined });
}

/**
 * Creates the CUDA backend. Throws `ERR_QATTN_BACKEND_UNAVAILABLE` when the runtime or this package's addon cannot
 * load (no device, no driver, addon not built or stale: the message says which and how to build it).
 */
export async function createCudaBackend(): Promise<FlashInt8CudaBackend> {
  const runtime = getCudaRuntime();
  const runner: AttentionRunner = createAttentionRunner({ packageName: '@qattn/flash-int8', runtime, binding: loadFlashInt8Addon() });
  const problem = (shape: ResolvedShape, scale: number, causal: boolean, options: ResolvedFlashInt8Options): AttentionProblem => {
    assertCudaSupports(shape, options, runner.capabilities);
    return { shape, scale, causal, flags: flashInt8KernelFlags(options) };
  };

  return {
    name: 'cuda',
    runtime,
    runDevice: async (q, k, v, call) => runner.runDevice(q, k, v, problem(call.shape, call.scale, call.causal, call.options)),
    run: async (call) => runner.run(call.q, call.k, call.v, problem(call.shape, call.scale, call.causal, call.options)),
    benchmark: async (shape, scale, causal, options, settings) => runner.benchmark(problem(shape, scale, causal, options), settings),
  };
}
