/**
 * The WebGPU peers of the decode-cache preset: the plain WGSL decode of wgsl/ over dense f32 and f16 K/V
 * (`wgsl-f32`, `wgsl-f16`), on the adapter and device the WebGPU cache uses, timed with the same GPU timestamps as
 * turboDecode's WebGPU rows, checked against the same float64 reference. Issue 9: "WebGPU decode … faster than a plain
 * f16/f32 WGSL decode of the same shapes on the same adapter".
 */
import { acquireGpu, type GpuContext } from '@qattn/webgpu-runtime';
import type { InputTensors } from '../algorithms.js';
import { type CellShape, median } from '../metrics.js';
import type { CellError, CellStatus } from '../sweep.js';
import { warmupCalls } from '../warmup.js';
import { type DecodeAccuracy, gbPerSecond, type StepTiming, stepTiming } from './rows.js';
import { WgslDecode } from './wgsl/decode.js';
import type { WgslDecodeDType } from './wgsl/schedule.js';

/** The baselines, in table order. */
export const WGSL_BASELINES = ['wgsl-f32', 'wgsl-f16'] as const;
export type WgslBaselineName = (typeof WGSL_BASELINES)[number];

const DTYPE: Record<WgslBaselineName, WgslDecodeDType> = { 'wgsl-f32': 'float32', 'wgsl-f16': 'float16' };

/** How a baseline's bandwidth is counted. */
export const WGSL_BYTES_PER_STEP_DEFINITION = 'the K and V it reads: 2 · batch · kvHeads · seqKV · headDim · (4 for f32, 2 for f16); q and the output not counted';

/** One baseline on one shape. */
export interface DecodeWgslCell {
  peer: WgslBaselineName;
  shape: CellShape;
  status: CellStatus;
  error?: CellError;
  dtype: WgslDecodeDType;
  /** The launch configuration it ran (wgsl/schedule.ts). */
  schedule?: { workgroupSize: number; rowsPerTile: number; keysPerTile: number; keysPerSplit: number; splits: number };
  step?: StepTiming;
  /** {@link WGSL_BYTES_PER_STEP_DEFINITION}. */
  bytesPerStep?: number;
  /** bytesPerStep / step.medianMs. */
  gbps?: number;
  /** Against float64 attention over the original K/V (the turboDecode rows' reference, same slices). */
  accuracy?: DecodeAccuracy;
  accuracyError?: CellError;
}

/** The baselines of a run and the adapter they ran on. */
export interface DecodeWgslReport {
  /** The adapter's description (the WebGPU cache's, since both use the shared device). */
  adapter: string;
  software: boolean;
  shaderF16: boolean;
  bytesPerStepDefinition: string;
  cells: DecodeWgslCell[];
}

/** Scores an output `[batch, heads, seqQ, headDim]` against the shape's float64 reference (run.ts). */
export type ScoreOutput = (out: Float32Array) => { accuracy?: DecodeAccuracy; accuracyError?: CellError };

/** Measures the baselines shape by shape, on the device `acquireGpu` shares with the WebGPU cache. */
export interface WgslBaselineRunner {
  measure(shape: CellShape, inputs: InputTensors, score: ScoreOutput): Promise<DecodeWgslCell[]>;
  report(): DecodeWgslReport;
}

function cellError(err: unknown): { status: CellStatus; error: CellError } {
  const candidate = err as { code?: unknown; message?: unknown };
  const code = typeof candidate?.code === 'string' ? candidate.code : 'ERR_BENCH_UNEXPECTED';
  const message = (typeof candidate?.message === 'string' ? candidate.message : String(err)).split('\n')[0];
  const status: CellStatus = code === 'ERR_QATTN_BACKEND_UNAVAILABLE' ? 'unavailable' : code === 'ERR_QATTN_UNSUPPORTED' ? 'unsupported' : 'error';
  return { status, error: { code, message } };
}

/** One baseline on one shape: upload, one typed step scored against float64, then timed steps. Never throws. */
export async function measureWgslBaseline(
  context: GpuContext,
  peer: WgslBaselineName,
  shape: CellShape,
  inputs: InputTensors,
  score: ScoreOutput,
  settings: { warmup: number; repeats: number; warmupMs?: number },
): Promise<DecodeWgslCell> {
  const cell: DecodeWgslCell = { peer, shape, status: 'ok', dtype: DTYPE[peer] };
  let decode: WgslDecode | undefined;
  try {
    const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
    decode = await WgslDecode.create(context, { batch, heads, kvHeads, seqQ, seqKV, headDim }, DTYPE[peer], inputs.k, inputs.v);
    const { workgroupSize, rowsPerTile, keysPerTile, keysPerSplit, splits } = decode.schedule;
    cell.schedule = { workgroupSize, rowsPerTile, keysPerTile, keysPerSplit, splits };
    Object.assign(cell, score(await decode.run(inputs.q)));
    // The warm-up sized in time from one probe step, as the turboDecode rows' (see src/warmup.ts).
    const { warmup, repeats, warmupMs = 0 } = settings;
    const probeMs = warmupMs > 0 ? median((await decode.time(inputs.q, { warmup: 0, repeats: 1 })).samplesMs) : 0;
    const { timer, samplesMs } = await decode.time(inputs.q, { warmup: warmupCalls(warmup, warmupMs, probeMs), repeats });
    cell.step = stepTiming(samplesMs, timer);
    cell.bytesPerStep = decode.kvBytes;
    cell.gbps = gbPerSecond(decode.kvBytes, cell.step.medianMs);
  } catch (err) {
    Object.assign(cell, cellError(err));
  } finally {
    decode?.dispose();
  }
  return cell;
}

/**
 * A runner for the baselines. When no device can be acquired every cell says why (`unavailable`), as the WebGPU rows
 * of the same run do.
 */
export function createWgslBaselineRunner(settings: { warmup: number; repeats: number; warmupMs?: number }): WgslBaselineRunner {
  const cells: DecodeWgslCell[] = [];
  let context: GpuContext | undefined;
  let unavailable: ReturnType<typeof cellError> | undefined;
  return {
    async measure(shape, inputs, score) {
      if (!context && !unavailable) {
        try {
          context = await acquireGpu();
        } catch (err) {
          unavailable = cellError(err);
        }
      }
      const measured: DecodeWgslCell[] = [];
      for (const peer of WGSL_BASELINES) {
        measured.push(context ? await measureWgslBaseline(context, peer, shape, inputs, score, settings) : { peer, shape, dtype: DTYPE[peer], ...unavailable! });
      }
      cells.push(...measured);
      return measured;
    },
    report() {
      const adapter = context ? context.adapter.description || context.adapter.device || context.adapter.vendor || 'unknown adapter' : 'none';
      return { adapter, software: context?.software ?? false, shaderF16: context?.capabilities.shaderF16 ?? false, bytesPerStepDefinition: WGSL_BYTES_PER_STEP_DEFINITION, cells };
    },
  };
}
