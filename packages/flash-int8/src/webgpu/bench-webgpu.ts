/**
 * Speed of the WebGPU INT8 attention against the f32/f16 WGSL FlashAttention baselines, in one process on one device
 * (issue 4): B=1, H=32, D=128, N ∈ {1024, 4096}, causal and not. Also checks, first, that the kernels agree with the
 * CPU oracle and float64 reference on this adapter. Bundled to one file by `stage-webgpu-bench.sh`; run with
 * `node bench-webgpu.mjs [--out result.json] [--quick] [--n 1024,4096]`.
 */
import { writeFileSync } from 'node:fs';
import { resolveShape } from '@qattn/quant-core';
import { attention, compare, generateInputs } from '@qattn/reference';
import { acquireGpu, WebGpuTensor } from '@qattn/webgpu-runtime';
import { flashInt8Attention, resolveFlashInt8Options } from '../index.js';
import type { FlashInt8Options } from '../options.js';
import { createWebGpuBackend } from './backend.js';
import { flashAttentionFloatBenchmark, flashAttentionFloatWebGpu } from './baseline.js';
import type { WebGpuRunOptions } from './flash-int8-webgpu.js';
import { chooseAttentionSchedule } from './schedule.js';
import type { BenchmarkResult } from '@qattn/quant-core';

interface Row {
  n: number;
  causal: boolean;
  path: string;
  schedule: string;
  ms: number;
  attnMs: number;
  quantMs?: number;
  tops: number;
  attnTops: number;
  timer: string;
}

const args = process.argv.slice(2);
const outPath = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
const quick = args.includes('--quick');
// `--n 128,256` overrides the sequence lengths (a smoke run on a software adapter).
const lengths = args.includes('--n') ? args[args.indexOf('--n') + 1].split(',').map(Number) : quick ? [1024] : [1024, 4096];

// FlashAttention's convention: 4·B·H·N²·D for a full mask, half of it when causal.
function ops(n: number, causal: boolean): number {
  return (4 * 32 * n * n * 128) / (causal ? 2 : 1);
}

async function checkCorrectness(): Promise<string[]> {
  const lines: string[] = [];
  const shape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 200, seqKV: 300, headDim: 128 };
  const data = generateInputs(shape, { kind: 'llm', seed: 7 });
  const expected = attention(data.q, data.k, data.v, shape, { causal: true });
  const fallback = await createWebGpuBackend({ forcePlainIntegerDot: true });
  for (const pv of ['int8', 'fp16'] as const) {
    const options = { causal: true, pv } as FlashInt8Options;
    const gpu = await flashInt8Attention(data.q, data.k, data.v, shape, { ...options, backend: 'webgpu' });
    const cpu = await flashInt8Attention(data.q, data.k, data.v, shape, { ...options, backend: 'cpu' });
    const resolved = resolveShape(shape);
    const plain = await fallback.run({ ...data, shape: resolved, scale: 1 / Math.sqrt(128), causal: true, options: resolveFlashInt8Options(options) });
    lines.push(
      `pv:${pv}: relL2 vs float64 ${compare(gpu, expected).relL2.toExponential(3)}, vs CPU oracle ${compare(gpu, cpu).relL2.toExponential(3)}, ` +
        `plain-integer fallback identical: ${gpu.every((x, i) => x === plain[i])}`,
    );
  }
  const context = await acquireGpu();
  for (const dtype of context.capabilities.shaderF16 ? (['float32', 'float16'] as const) : (['float32'] as const)) {
    const tensors = [data.q, data.k, data.v].map((x, i) => WebGpuTensor.fromArray(context, x, i === 0 ? [1, 4, 200, 128] : [1, 2, 300, 128], dtype));
    const out = await flashAttentionFloatWebGpu(tensors[0], tensors[1], tensors[2], shape, { causal: true });
    lines.push(`${dtype} baseline: relL2 vs float64 ${compare(await out.toArray(), expected).relL2.toExponential(3)}`);
    for (const tensor of [...tensors, out]) tensor.dispose();
  }
  return lines;
}

async function main(): Promise<void> {
  const context = await acquireGpu();
  console.log(`adapter: ${JSON.stringify(context.adapter)}`);
  console.log(`capabilities: ${JSON.stringify(context.capabilities)}; limits: ${JSON.stringify(context.limits)}`);
  const correctness = await checkCorrectness();
  for (const line of correctness) console.log(line);

  const settings = { warmup: 3, repeats: quick ? 3 : 10, seed: 1 };
  const rows: Row[] = [];
  const limits = { ...context.limits, software: context.software };
  const int8Paths: Array<{ path: string; options: FlashInt8Options; run: WebGpuRunOptions }> = [
    { path: 'int8 (defaults)', options: {}, run: {} },
    { path: 'int8 blockN 64', options: { blockN: 64 }, run: {} },
    { path: 'int8 2 rows/thread', options: {}, run: { rowsPerThread: 2 } },
    { path: 'int8 QK, fp16 PV', options: { pv: 'fp16' }, run: {} },
  ];
  const floatPaths: Array<{ path: string; dtype: 'float32' | 'float16'; rowsPerThread?: 1 | 2 | 4 }> = [
    { path: 'f32 baseline', dtype: 'float32' },
    { path: 'f32 baseline 1 row/thread', dtype: 'float32', rowsPerThread: 1 },
    ...(context.capabilities.shaderF16 ? [{ path: 'f16 baseline', dtype: 'float16' as const }] : []),
  ];
  for (const n of lengths) {
    for (const causal of [false, true]) {
      const shape = { batch: 1, heads: 32, seqQ: n, seqKV: n, headDim: 128 };
      const record = (path: string, schedule: string, result: BenchmarkResult) => {
        const attnMs = result.attnMs ?? result.medianMs;
        rows.push({
          n,
          causal,
          path,
          schedule,
          ms: result.medianMs,
          attnMs,
          quantMs: result.quantMs,
          tops: ops(n, causal) / (result.medianMs * 1e9),
          attnTops: ops(n, causal) / (attnMs * 1e9),
          timer: result.timer,
        });
        const last = rows[rows.length - 1];
        console.log(
          `N=${n} causal=${causal} ${path.padEnd(28)} ${schedule.padEnd(44)} total ${last.ms.toFixed(3)} ms (${last.tops.toFixed(2)} TOPS)` +
            `  attention ${last.attnMs.toFixed(3)} ms (${last.attnTops.toFixed(2)} TOPS)${last.quantMs !== undefined ? `  quant ${last.quantMs.toFixed(3)} ms` : ''}`,
        );
      };
      for (const { path, options, run } of int8Paths) {
        try {
          const backend = await createWebGpuBackend(run);
          const resolved = resolveFlashInt8Options(options);
          const schedule = chooseAttentionSchedule(resolved.pv === 'int8' ? 'int8' : 'int8-pv-fp16', 128, limits, resolved.blockN, run.rowsPerThread);
          record(path, schedule.key, await backend.benchmark(resolveShape(shape), 1 / Math.sqrt(128), causal, resolveFlashInt8Options({ ...options, causal }), settings));
        } catch (err) {
          console.log(`N=${n} causal=${causal} ${path}: failed: ${(err as Error).message}`);
        }
      }
      for (const { path, dtype, rowsPerThread } of floatPaths) {
        try {
          const schedule = chooseAttentionSchedule(dtype === 'float32' ? 'f32' : 'f16', 128, limits, undefined, rowsPerThread);
          record(path, schedule.key, await flashAttentionFloatBenchmark(shape, { causal, dtype, rowsPerThread }, settings));
        } catch (err) {
          console.log(`N=${n} causal=${causal} ${path}: failed: ${(err as Error).message}`);
        }
      }
    }
  }
  if (outPath) writeFileSync(outPath, JSON.stringify({ adapter: context.adapter, capabilities: context.capabilities, correctness, rows }, null, 2));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
