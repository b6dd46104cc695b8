import {
  type AttentionPlanRequest,
  chooseAttentionSchedule,
  type GpuContext,
  subgroupMatrixRequested,
  type WebGpuRunOptions,
} from '@qattn/webgpu-runtime';
import type { FlashInt8Call } from '../backends.js';
import { gpuPv } from '../options.js';
import { subgroupMatrixAttention } from './attn-fwd-int8-sgmat.js';
import { chooseInt8MatrixPath, type Int8MatrixPath } from './subgroup-matrix-schedule.js';
import { FLASH_INT8_WEBGPU, flashInt8PlanRequest } from './variant.js';

/** Run knobs of flash-int8's WebGPU path: the shared layer's, and the subgroup-matrix opt-in. */
export interface FlashInt8WebGpuOptions extends WebGpuRunOptions {
  /**
   * Run the INT8 attention on subgroup matrices (Dawn's `chromium-experimental-subgroup-matrix`, INT8 tensor cores)
   * where the device has a fitting configuration; elsewhere the dot4 kernel runs and the path says why. Experimental
   * and off until verified on hardware. Default: `QATTN_WEBGPU_SUBGROUP_MATRIX=1` in the environment. The device must
   * have been acquired with the feature (`acquireGpu({ subgroupMatrix: true })`, or the same variable, before the
   * first WebGPU call).
   */
  subgroupMatrix?: boolean;
}

/** Which kernel a call runs: a short label for tables, and why it is not the subgroup-matrix one when that was asked. */
export interface FlashInt8WebGpuPath {
  /** `sgmat i8 16×16×32 · u8 16×16×32`, `dot4`, `dot4 · f16 P·V` or `int32` (no packed dot products). */
  path: string;
  /** The reason the subgroup-matrix kernel does not run, when it was requested. */
  pathNote?: string;
}

function dot4Label(context: GpuContext, call: Pick<FlashInt8Call, 'options'>, run: WebGpuRunOptions): string {
  const dot = context.capabilities.packedDot4 && !run.forcePlainIntegerDot ? 'dot4' : 'int32';
  return call.options.pv === 'fp16' ? `${dot} · f16 P·V` : dot;
}

/** The matrix-path decision for a call on a device (pure apart from reading the context). */
export function flashInt8MatrixPath(context: GpuContext, call: Pick<FlashInt8Call, 'shape' | 'causal' | 'options'>, run: FlashInt8WebGpuOptions): Int8MatrixPath {
  const { options, shape } = call;
  let planBlockN: number;
  try {
    // The dot4 plan whose workspace and uniforms the kernel reuses: its key tile must be the variant's blockN.
    planBlockN = chooseAttentionSchedule(
      options.pv === 'int8' ? 'int8' : 'int8-pv-fp16',
      shape.headDim,
      { ...context.limits, software: context.software },
      options.blockN,
      run.schedule,
      { seqQ: shape.seqQ, causal: call.causal },
    ).blockN;
  } catch (err) {
    return { kind: 'dot4', reason: (err as Error).message };
  }
  const { capabilities, subgroupInfo, limits } = context;
  return chooseInt8MatrixPath(
    {
      subgroupMatrix: capabilities.subgroupMatrix,
      subgroups: capabilities.subgroups,
      subgroupMinSize: subgroupInfo.minSize,
      subgroupMaxSize: subgroupInfo.maxSize,
      configs: subgroupInfo.matrixConfigs,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
    { headDim: shape.headDim, blockN: options.blockN, planBlockN, pv: gpuPv(options, FLASH_INT8_WEBGPU, 'webgpu'), pCodeMax: options.pCodeMax, exponent: 'exp2' },
    run.subgroupMatrix ?? subgroupMatrixRequested(),
  );
}

/** The shared layer's plan request of a call on a device, with the kernel it selects and the path to report. */
export function flashInt8WebGpuRequest(
  context: GpuContext,
  call: Pick<FlashInt8Call, 'shape' | 'scale' | 'causal' | 'options'>,
  run: FlashInt8WebGpuOptions = {},
): { request: AttentionPlanRequest; path: FlashInt8WebGpuPath } {
  const { subgroupMatrix, ...shared } = run;
  const request = flashInt8PlanRequest(call, shared);
  const choice = flashInt8MatrixPath(context, call, run);
  if (choice.kind === 'subgroup-matrix') {
    const kernel = {
      pScale: call.options.pScale,
      pCodeMax: call.options.pCodeMax,
      outputF16: (run.outputDType ?? 'float32') === 'float16',
      matrixOps: 'subgroup-matrix' as const,
    };
    return { request: { ...request, attentionKernel: subgroupMatrixAttention(choice.schedule, kernel) }, path: { path: choice.schedule.label } };
  }
  const requested = subgroupMatrix ?? subgroupMatrixRequested();
  return { request, path: { path: dot4Label(context, call, shared), ...(requested ? { pathNote: choice.reason } : {}) } };
}
