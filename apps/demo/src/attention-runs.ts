import {
  type BenchmarkResult,
  type FloatBaselineDType,
  flashAttentionFloatBenchmark,
  flashAttentionFloatWebGpu,
  flashInt8Attention,
  flashInt8Benchmark,
} from '@qattn/flash-int8';
import type { AttentionShape } from '@qattn/quant-core';
import { attention, attentionRows, compare, generateInputs, selectRows } from '@qattn/reference';
import { turboAttention, turboBenchmark } from '@qattn/turbo-attn';
import { type GpuContext, WebGpuTensor } from '@qattn/webgpu-runtime';
import { ACCURACY_BOUNDS } from './bounds.js';
import type { AttentionReport, AttentionRow, KernelName } from './demo-results.js';
import { describeError } from './describe-error.js';
import { type Workload, attentionOps, teraOpsPerSecond } from './workload.js';

/**
 * Above this many multiply-adds the float64 reference covers sampled rows instead of all of them: JavaScript does
 * about 1 GFMA/s, and the `transformer` preset (0.5 GFMA causal) should stay a second.
 */
const FULL_REFERENCE_MAX_FMA = 2 ** 31;
const SAMPLED_ROWS = 64;

type Backend = 'webgpu' | 'cpu';

interface Reference {
  expected: ArrayLike<number>;
  /** The same rows of a full output as `expected` holds. */
  pick: (out: Float32Array) => Float32Array;
  description: string;
}

function float64Reference(q: Float32Array, k: Float32Array, v: Float32Array, shape: Required<AttentionShape>, causal: boolean): Reference {
  const fma = 2 * shape.batch * shape.heads * shape.seqQ * shape.seqKV * shape.headDim;
  if (fma <= FULL_REFERENCE_MAX_FMA) {
    return { expected: attention(q, k, v, shape, { causal }), pick: (out) => out, description: `all ${shape.seqQ} rows of every head` };
  }
  // Evenly spaced rows, the first and last included: the sink-dominated start and the longest causal rows.
  const rows = Array.from({ length: SAMPLED_ROWS }, (_, i) => Math.round((i * (shape.seqQ - 1)) / (SAMPLED_ROWS - 1)));
  return {
    expected: attentionRows(q, k, v, shape, causal, rows),
    pick: (out) => selectRows(out, shape, rows),
    description: `${SAMPLED_ROWS} of ${shape.seqQ} rows of every head (sampled: the full float64 reference would take minutes)`,
  };
}

interface KernelPlan {
  kernel: KernelName;
  label: string;
  bound: number;
  /** The output on the demo's LLM-like inputs. */
  run: () => Promise<Float32Array>;
  /** Timing on the package's benchmark inputs (inputs uploaded once, device timers where there are). */
  time: () => Promise<BenchmarkResult>;
}

function floatPlan(gpu: GpuContext, dtype: FloatBaselineDType, workload: Workload, inputs: Record<'q' | 'k' | 'v', Float32Array>): KernelPlan {
  const { shape, causal, repeats } = workload;
  const qDims = [shape.batch, shape.heads, shape.seqQ, shape.headDim];
  const kvDims = [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim];
  return {
    kernel: dtype,
    label: `FlashAttention ${dtype === 'float32' ? 'f32' : 'f16'} WGSL (no quantization)`,
    bound: dtype === 'float32' ? ACCURACY_BOUNDS.float32 : ACCURACY_BOUNDS.float16,
    run: async () => {
      const q = WebGpuTensor.fromArray(gpu, inputs.q, qDims, dtype);
      const k = WebGpuTensor.fromArray(gpu, inputs.k, kvDims, dtype);
      const v = WebGpuTensor.fromArray(gpu, inputs.v, kvDims, dtype);
      const out = await flashAttentionFloatWebGpu(q, k, v, shape, { causal });
      try {
        return await out.toArray();
      } finally {
        for (const tensor of [q, k, v, out]) tensor.dispose();
      }
    },
    time: () => flashAttentionFloatBenchmark(shape, { causal, dtype }, { warmup: 1, repeats }),
  };
}

function kernelPlans(backend: Backend, gpu: GpuContext | undefined, workload: Workload, inputs: Record<'q' | 'k' | 'v', Float32Array>): KernelPlan[] {
  const { shape, causal } = workload;
  const { q, k, v } = inputs;
  // The CPU oracles take seconds per call at transformer sizes: one timed call is enough to show the gap.
  const settings = backend === 'webgpu' ? { warmup: 1, repeats: workload.repeats } : { warmup: 0, repeats: 1 };
  const plans: KernelPlan[] = [
    {
      kernel: 'flash-int8',
      label: 'flash-int8: INT8 Q·Kᵀ and P·V (INT-FlashAttention)',
      bound: ACCURACY_BOUNDS.flashInt8,
      run: () => flashInt8Attention(q, k, v, shape, { causal, backend }),
      time: () => flashInt8Benchmark(shape, { causal, backend }, settings),
    },
    {
      kernel: 'turbo-attn',
      label: 'turbo-attn: FlashQ INT8 + SAS softmax (TurboAttention)',
      bound: ACCURACY_BOUNDS.turbo,
      run: () => turboAttention(q, k, v, shape, { causal, backend }),
      time: () => turboBenchmark(shape, { causal, backend }, settings),
    },
  ];
  if (gpu) plans.push(floatPlan(gpu, 'float32', workload, inputs), floatPlan(gpu, 'float16', workload, inputs));
  return plans;
}

/**
 * Runs every kernel on the workload: its output on LLM-like inputs against float64 attention, and its timing. With
 * `gpu` the INT8 kernels and the f32/f16 baselines run on WebGPU; without, the INT8 kernels run on their CPU oracles
 * and the float baselines are skipped. A kernel that fails gets its error in its row; the others still run.
 */
export async function runAttention(workload: Workload, gpu: GpuContext | undefined, progress: (step: string) => void): Promise<AttentionReport> {
  const { shape, causal } = workload;
  const backend: Backend = gpu ? 'webgpu' : 'cpu';
  progress('generating LLM-like inputs');
  const inputs = generateInputs(shape, { kind: 'llm', seed: 1 });
  progress('float64 reference');
  const referenceStart = performance.now();
  const reference = float64Reference(inputs.q, inputs.k, inputs.v, shape, causal);
  const referenceMs = performance.now() - referenceStart;
  const ops = attentionOps(shape, causal);
  const rows: AttentionRow[] = [];
  for (const plan of kernelPlans(backend, gpu, workload, inputs)) {
    const row: AttentionRow = { kernel: plan.kernel, label: plan.label, backend, bound: plan.bound };
    rows.push(row);
    if (plan.kernel === 'float16' && !gpu?.capabilities.shaderF16) {
      row.skipped = 'this adapter lacks shader-f16';
      continue;
    }
    try {
      progress(`${plan.kernel} on ${backend}: accuracy`);
      row.relL2 = compare(reference.pick(await plan.run()), reference.expected).relL2;
      progress(`${plan.kernel} on ${backend}: timing`);
      const timing = await plan.time();
      row.medianMs = timing.medianMs;
      row.tops = teraOpsPerSecond(ops, timing.medianMs);
      row.timer = timing.timer;
    } catch (err) {
      row.error = describeError(err);
    }
  }
  if (!gpu) {
    rows.push(
      { kernel: 'float32', label: 'FlashAttention f32 WGSL (no quantization)', backend: 'webgpu', bound: ACCURACY_BOUNDS.float32, skipped: 'needs WebGPU' },
      { kernel: 'float16', label: 'FlashAttention f16 WGSL (no quantization)', backend: 'webgpu', bound: ACCURACY_BOUNDS.float16, skipped: 'needs WebGPU' },
    );
  }
  return { rows, referenceRows: reference.description, referenceMs };
}
