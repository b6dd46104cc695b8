/**
 * Speed of the WebGPU INT8 attention against the f32/f16 WGSL FlashAttention baselines, in one process on one device
 * (issue 4): B=1, H=32, D=128, N ∈ {1024, 4096}, causal and not. Also checks, first, that the kernels agree with the
 * CPU oracle and float64 reference on this adapter. Bundled to one file by `stage-webgpu-bench.sh`; run with
 * `node bench-webgpu.mjs [--out result.json] [--quick] [--n 1024,4096] [--candidates 'before,R2 wg128 pc4']`.
 */
import { writeFileSync } from 'node:fs';
import { resolveShape } from '@qattn/quant-core';
import { attention, compare, generateInputs } from '@qattn/reference';
import { acquireGpu, WebGpuTensor } from '@qattn/webgpu-runtime';
import { flashInt8Attention, resolveFlashInt8Options } from '../index.js';
import type { FlashInt8Options } from '../options.js';
import { createWebGpuBackend } from './backend.js';
import { flashAttentionFloatBenchmark, flashAttentionFloatWebGpu } from './baseline.js';
import { allocateWorkspace, encodeQuantization, planFlashInt8, quantizationOps, type WebGpuRunOptions } from './flash-int8-webgpu.js';
import { timePhases } from './timing.js';
import { chooseAttentionSchedule, type ScheduleOverrides } from './schedule.js';
import { type BenchmarkResult, type BenchmarkSettings, benchmarkData, median } from '@qattn/quant-core';

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

/** One int8 candidate: algorithm options plus the schedule fields it pins (none: the schedule rule decides). */
interface Int8Path {
  path: string;
  options: FlashInt8Options;
  run: WebGpuRunOptions;
}

// The schedule before this sweep (4 rows per thread, 128 threads, one channel per P·V step), pinned so that "before"
// and "after" come from the same run.
const BEFORE: ScheduleOverrides = { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 1, heavyTilesFirst: false };
const CANDIDATES: Array<[string, ScheduleOverrides]> = [
  ['before (R4 wg128 pc1)', BEFORE],
  ['R2 wg128 pc1', { rowsPerThread: 2, workgroupSize: 128, pvChannelTile: 1, heavyTilesFirst: false }],
  ['R4 wg128 pc2', { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 2, heavyTilesFirst: false }],
  ['R4 wg128 pc4', { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 4, heavyTilesFirst: false }],
  ['R2 wg128 pc4', { rowsPerThread: 2, workgroupSize: 128, pvChannelTile: 4, heavyTilesFirst: false }],
  ['R2 wg256 pc4', { rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 4, heavyTilesFirst: false }],
  ['R2 wg256 pc1', { rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 1, heavyTilesFirst: false }],
  ['R1 wg256 pc4', { rowsPerThread: 1, workgroupSize: 256, pvChannelTile: 4, heavyTilesFirst: false }],
  ['R2 wg64 pc4', { rowsPerThread: 2, workgroupSize: 64, pvChannelTile: 4, heavyTilesFirst: false }],
  ['R4 wg128 pc4 heavy-first', { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 4, heavyTilesFirst: true }],
  ['R2 wg128 pc4 heavy-first', { rowsPerThread: 2, workgroupSize: 128, pvChannelTile: 4, heavyTilesFirst: true }],
  ['R2 wg256 pc4 heavy-first', { rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 4, heavyTilesFirst: true }],
  ['R2 wg256 pc8', { rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 8, heavyTilesFirst: false }],
  ['R2 wg256 pc16', { rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 16, heavyTilesFirst: false }],
  ['R4 wg256 pc4', { rowsPerThread: 4, workgroupSize: 256, pvChannelTile: 4, heavyTilesFirst: false }],
  ['R2 wg512 pc4', { rowsPerThread: 2, workgroupSize: 512, pvChannelTile: 4, heavyTilesFirst: false }],
  ['R1 wg512 pc4', { rowsPerThread: 1, workgroupSize: 512, pvChannelTile: 4, heavyTilesFirst: false }],
  ['R4 wg128 pc8', { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 8, heavyTilesFirst: false }],
];

function int8Paths(defaultBlockN: number): Int8Path[] {
  const only = args.includes('--candidates') ? args[args.indexOf('--candidates') + 1].split(',') : undefined;
  const paths: Int8Path[] = [{ path: 'int8 rule', options: {}, run: {} }];
  // Both P/V block sizes: the oracle's default (options.ts) and the other one, each with every candidate schedule.
  for (const blockN of [defaultBlockN, defaultBlockN === 32 ? 64 : 32]) {
    for (const [name, schedule] of CANDIDATES) {
      if (only && !only.some((c) => name.startsWith(c))) continue;
      paths.push({ path: `int8 n${blockN} ${name}`, options: blockN === defaultBlockN ? {} : { blockN }, run: { schedule } });
    }
  }
  paths.push({ path: 'int8 QK, fp16 PV (rule)', options: { pv: 'fp16' }, run: {} });
  paths.push({ path: 'int8 QK, fp16 PV before', options: { pv: 'fp16' }, run: { schedule: BEFORE } });
  return paths;
}

/** Every candidate must agree with the CPU oracle on this adapter before its speed counts. */
async function checkCorrectness(paths: Int8Path[]): Promise<string[]> {
  const lines: string[] = [];
  const shape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 200, seqKV: 300, headDim: 128 };
  const data = generateInputs(shape, { kind: 'llm', seed: 7 });
  const expected = attention(data.q, data.k, data.v, shape, { causal: true });
  const resolved = resolveShape(shape);
  for (const { path, options, run } of paths) {
    const all = { ...options, causal: true } as FlashInt8Options;
    const cpu = await flashInt8Attention(data.q, data.k, data.v, shape, { ...all, backend: 'cpu' });
    const gpu = await (await createWebGpuBackend(run)).run({ ...data, shape: resolved, scale: 1 / Math.sqrt(128), causal: true, options: resolveFlashInt8Options(all) });
    const plain = await (await createWebGpuBackend({ ...run, forcePlainIntegerDot: true })).run({
      ...data,
      shape: resolved,
      scale: 1 / Math.sqrt(128),
      causal: true,
      options: resolveFlashInt8Options(all),
    });
    const vsOracle = compare(gpu, cpu).relL2;
    lines.push(
      `${path}: relL2 vs float64 ${compare(gpu, expected).relL2.toExponential(3)} (CPU oracle's: ${compare(cpu, expected).relL2.toExponential(3)}), vs CPU oracle ${vsOracle.toExponential(3)}, ` +
        `plain-integer fallback identical: ${gpu.every((x, i) => x === plain[i])}${vsOracle > 5e-4 ? '  ** DISAGREES **' : ''}`,
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

/** One quantization op's median time at one N (default options): what `quantMs` is made of. */
interface QuantOpRow {
  n: number;
  op: string;
  ms: number;
  /** The f32 tensor the op reads (Q, K or V: each op reads one) in bytes, over its time. */
  inputGBps: number;
}

/**
 * Times each op of the quantization pre-pass apart (a timestamp between ops; causal does not change this work).
 * Needs timestamp queries; returns nothing without them.
 */
async function timeQuantizationOps(n: number, settings: BenchmarkSettings): Promise<QuantOpRow[]> {
  const context = await acquireGpu();
  const shape = resolveShape({ batch: 1, heads: 32, seqQ: n, seqKV: n, headDim: 128 });
  const plan = planFlashInt8(context, shape, 1 / Math.sqrt(128), false, resolveFlashInt8Options({}));
  const ops = quantizationOps(plan);
  const tensors = [1, 2, 3].map((seed) => WebGpuTensor.fromArray(context, benchmarkData(shape.qElements, seed), [1, 32, n, 128]));
  const workspace = allocateWorkspace(context, plan);
  try {
    const [q, k, v] = tensors.map((tensor) => tensor.buffer);
    const timing = await timePhases(context, ops.length + 1, settings, (encoder, mark) => {
      mark(0);
      return encodeQuantization(context, encoder, plan, workspace, { q, k, v }, (index) => mark(index + 1));
    });
    if (timing.timer !== 'timestamp-query') return [];
    const bytes = shape.qElements * 4;
    return ops.map((op, i) => {
      const ms = median(timing.phases[i]);
      return { n, op, ms, inputGBps: bytes / (ms * 1e6) };
    });
  } finally {
    workspace.destroy();
    for (const tensor of tensors) tensor.dispose();
  }
}

async function main(): Promise<void> {
  const context = await acquireGpu();
  console.log(`adapter: ${JSON.stringify(context.adapter)}`);
  console.log(`capabilities: ${JSON.stringify(context.capabilities)}; limits: ${JSON.stringify(context.limits)}`);
  const defaultBlockN = resolveFlashInt8Options({}).blockN;
  console.log(`options.ts default blockN: ${defaultBlockN}`);
  const paths = int8Paths(defaultBlockN);
  const correctness = await checkCorrectness(paths);
  for (const line of correctness) console.log(line);

  const rows: Row[] = [];
  const quantOps: QuantOpRow[] = [];
  const limits = { ...context.limits, software: context.software };
  const floatPaths: Array<{ path: string; dtype: 'float32' | 'float16' }> = [
    { path: 'f32 baseline', dtype: 'float32' },
    ...(context.capabilities.shaderF16 ? [{ path: 'f16 baseline', dtype: 'float16' as const }] : []),
  ];
  for (const n of lengths) {
    // Short kernels get more samples: their medians move more between runs (clocks, dispatch gaps).
    const settings = quick ? { warmup: 2, repeats: 3, seed: 1 } : n <= 1024 ? { warmup: 10, repeats: 30, seed: 1 } : { warmup: 3, repeats: 10, seed: 1 };
    for (const row of await timeQuantizationOps(n, settings)) {
      quantOps.push(row);
      console.log(`N=${n} quantization op ${row.op.padEnd(6)} ${row.ms.toFixed(4)} ms (${row.inputGBps.toFixed(0)} GB/s of f32 input)`);
    }
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
          `N=${n} causal=${causal} ${path.padEnd(34)} ${schedule.padEnd(58)} total ${last.ms.toFixed(3)} ms (${last.tops.toFixed(2)} TOPS)` +
            `  attention ${last.attnMs.toFixed(3)} ms (${last.attnTops.toFixed(2)} TOPS)${last.quantMs !== undefined ? `  quant ${last.quantMs.toFixed(3)} ms` : ''}`,
        );
      };
      const runFloat = async (suffix: string) => {
        for (const { path, dtype } of floatPaths) {
          try {
            const schedule = chooseAttentionSchedule(dtype === 'float32' ? 'f32' : 'f16', 128, limits);
            record(path + suffix, schedule.key, await flashAttentionFloatBenchmark(shape, { causal, dtype }, settings));
          } catch (err) {
            console.log(`N=${n} causal=${causal} ${path}: failed: ${(err as Error).message}`);
          }
        }
      };
      // The baseline before and after the int8 candidates: its spread bounds the noise of this shape's ratios.
      await runFloat('');
      for (const { path, options, run } of paths) {
        try {
          const backend = await createWebGpuBackend(run);
          const resolved = resolveFlashInt8Options({ ...options, causal });
          const schedule = chooseAttentionSchedule(resolved.pv === 'int8' ? 'int8' : 'int8-pv-fp16', 128, limits, resolved.blockN, run.schedule, {
            seqQ: n,
            causal,
          });
          record(path, schedule.key, await backend.benchmark(resolveShape(shape), 1 / Math.sqrt(128), causal, resolved, settings));
        } catch (err) {
          console.log(`N=${n} causal=${causal} ${path}: failed: ${(err as Error).message}`);
        }
      }
      await runFloat(' (again)');
    }
  }
  if (outPath) writeFileSync(outPath, JSON.stringify({ adapter: context.adapter, capabilities: context.capabilities, defaultBlockN, correctness, quantOps, rows }, null, 2));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
