/**
 * The WebGPU schedule sweep: every candidate schedule (candidates.ts) × the run's shapes, each timed through the
 * package's benchmark path with the candidate pinned, after a correctness check of the candidate against the CPU
 * oracle on a small causal GQA case (a fast schedule that computes something else must not win). The f32 WGSL
 * baseline of the same package is timed before and after each shape's candidates; its spread bounds the noise of the
 * ratios. The sweep sees only {@link ScheduleTarget}s, so tests drive it with fakes; targets.ts builds the real ones.
 */
import type { Timing } from '../algorithms.js';
import { attentionOps, type CellShape, shapeLabel, tops } from '../metrics.js';
import type { AlgorithmId } from '../presets.js';
import type { CellError } from '../sweep.js';
import { withTimedWarmup } from '../warmup.js';
import { candidatesForShape, type ScheduleCandidate } from './candidates.js';

/** One algorithm whose WebGPU schedule can be pinned. */
export interface ScheduleTarget {
  algorithm: AlgorithmId;
  /** The schedule a candidate resolves to at a shape on this device (throws when none fits); undefined: unknown. */
  scheduleKey?: (candidate: ScheduleCandidate, shape: CellShape) => string;
  benchmark(candidate: ScheduleCandidate, shape: CellShape, warmup: number, repeats: number): Promise<Timing>;
  /**
   * Relative L2 of the candidate's output against the CPU oracle and against float64, on {@link CHECK_SHAPE}; `bound`
   * when this candidate's agreement bound is not {@link CHECK_BOUND} (see {@link SPLIT_P_BLOCK_BOUND}).
   */
  check(candidate: ScheduleCandidate, shape: CellShape): Promise<{ vsOracle: number; vsReference: number; oracleVsReference: number; bound?: number }>;
}

/** The float baseline timed around each shape's candidates. */
export interface BaselineTarget {
  name: string;
  benchmark(shape: CellShape, warmup: number, repeats: number): Promise<Timing>;
}

/** The check case: causal, GQA 2:1, seqQ < seqKV, lengths that are not multiples of any tile. */
export const CHECK_SHAPE: CellShape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 200, seqKV: 300, headDim: 128, causal: true };

/**
 * Largest relative L2 between a candidate and the CPU oracle: flash-int8's own WebGPU-vs-oracle bound (float rounding
 * of scales and exp2 can flip a rounding tie of a P code; measured 1e-7 to 9e-5).
 */
export const CHECK_BOUND = 5e-4;

/**
 * The bound when the device's workgroup memory forces a key tile smaller than the options' blockN (headDim 128 on a
 * 32 KiB software adapter): P's row max then covers part of the oracle's P block — a finer P scale, an algorithmic
 * difference of about 1e-2, not a rounding one (turbo-attn's WebGPU conformance test uses the same 3e-2).
 */
export const SPLIT_P_BLOCK_BOUND = 3e-2;

export interface ScheduleRow {
  algorithm: AlgorithmId;
  candidate: string;
  scheduleKey?: string;
  /** Candidates that resolve to the same schedule at this shape (not timed again). */
  sameAs?: string[];
  shape: CellShape;
  status: 'ok' | 'error' | 'unsupported' | 'skipped';
  error?: CellError;
  timing?: Timing;
  /** ops / medianMs (quantization included). */
  tops?: number;
  /** ops / attnMs (the attention kernel alone). */
  topsAttention?: number;
  /** The rule's median time / this candidate's (> 1: faster than the rule). */
  speedupVsRule?: number;
}

export interface ScheduleCheck {
  algorithm: AlgorithmId;
  candidate: string;
  scheduleKey?: string;
  status: 'ok' | 'error';
  error?: CellError;
  vsOracle?: number;
  vsReference?: number;
  oracleVsReference?: number;
  /** The bound applied: checkBound, or {@link SPLIT_P_BLOCK_BOUND} for a split P block. */
  bound?: number;
  /** vsOracle ≤ bound; a candidate that fails is not timed. */
  pass?: boolean;
}

export interface BaselineRow {
  name: string;
  shape: CellShape;
  /** Timed before or after the shape's candidates. */
  when: 'before' | 'after';
  status: 'ok' | 'error';
  error?: CellError;
  timing?: Timing;
  tops?: number;
}

/** The schedules section of a report. */
export interface SchedulesReport {
  /** The WebGPU adapter the sweep ran on (as `acquireGpu()` describes it). */
  device?: Record<string, unknown>;
  checkShape: CellShape;
  checkBound: number;
  /** Candidates before per-shape pruning (the rule included). */
  candidates: number;
  checks: ScheduleCheck[];
  rows: ScheduleRow[];
  baselines: BaselineRow[];
}

export interface ScheduleSweepSettings {
  warmup: number;
  /** Least wall time of each row's warm-up, sized by a probe call (`withTimedWarmup`); 0 or absent: count only. */
  warmupMs?: number;
  repeats: number;
  candidates: ScheduleCandidate[];
  checkShape?: CellShape;
  checkBound?: number;
}

function toError(err: unknown): CellError {
  const candidate = err as { code?: unknown; message?: unknown };
  const code = typeof candidate?.code === 'string' ? candidate.code : 'ERR_BENCH_UNEXPECTED';
  const message = typeof candidate?.message === 'string' ? candidate.message : String(err);
  return { code, message: message.split('\n')[0] };
}

const unsupportedCodes = new Set(['ERR_QATTN_UNSUPPORTED', 'ERR_BENCH_NO_API', 'ERR_BENCH_NO_HOOK']);

/** Runs the sweep (see the module comment). Never throws: failures land in their rows. */
export async function runScheduleSweep(
  shapes: CellShape[],
  targets: ScheduleTarget[],
  baseline: BaselineTarget | undefined,
  settings: ScheduleSweepSettings,
  onProgress?: (done: number, total: number, label: string) => void,
): Promise<Omit<SchedulesReport, 'device'>> {
  const checkShape = settings.checkShape ?? CHECK_SHAPE;
  const checkBound = settings.checkBound ?? CHECK_BOUND;
  const checks: ScheduleCheck[] = [];
  const rows: ScheduleRow[] = [];
  const baselines: BaselineRow[] = [];
  const total = shapes.length * targets.length * settings.candidates.length + settings.candidates.length * targets.length;
  let done = 0;

  // Correctness first, once per (algorithm, schedule): the pinned fields fix the kernel whatever the problem.
  const verdicts = new Map<string, ScheduleCheck>();
  const warmupMs = settings.warmupMs ?? 0;
  const timed = async (bench: (warmup: number, repeats: number) => Promise<Timing>): Promise<Timing> => {
    const { result, warmup } = await withTimedWarmup(bench, settings.warmup, settings.repeats, warmupMs);
    return warmupMs > 0 ? { ...result, warmupCalls: warmup } : result;
  };
  for (const target of targets) {
    const keyed = candidatesForShape(settings.candidates, true, target.scheduleKey ? (c) => target.scheduleKey!(c, checkShape) : undefined);
    for (const { candidate, key, duplicates, keyError } of keyed) {
      onProgress?.(done, total, `check ${target.algorithm} ${candidate.label}`);
      const check: ScheduleCheck = { algorithm: target.algorithm, candidate: candidate.label, ...(key ? { scheduleKey: key } : {}), status: 'ok' };
      if (keyError !== undefined) {
        Object.assign(check, { status: 'error', error: toError(keyError) });
      } else {
        try {
          const { bound = checkBound, ...result } = await target.check(candidate, checkShape);
          Object.assign(check, result, { bound, pass: result.vsOracle <= bound });
        } catch (err) {
          Object.assign(check, { status: 'error', error: toError(err) });
        }
      }
      checks.push(check);
      for (const label of [candidate.label, ...duplicates]) verdicts.set(`${target.algorithm}|${label}`, check);
      done += 1 + duplicates.length;
    }
  }

  for (const shape of shapes) {
    const timeBaseline = async (when: 'before' | 'after') => {
      if (!baseline) return;
      const row: BaselineRow = { name: baseline.name, shape, when, status: 'ok' };
      try {
        row.timing = await timed((warmup, repeats) => baseline.benchmark(shape, warmup, repeats));
        row.tops = tops(attentionOps(shape), row.timing.medianMs);
      } catch (err) {
        Object.assign(row, { status: 'error', error: toError(err) });
      }
      baselines.push(row);
    };
    await timeBaseline('before');
    for (const target of targets) {
      const keyed = candidatesForShape(settings.candidates, shape.causal, target.scheduleKey ? (c) => target.scheduleKey!(c, shape) : undefined);
      let ruleMs: number | undefined;
      for (const { candidate, key, duplicates, keyError } of keyed) {
        onProgress?.(done, total, `${target.algorithm} ${candidate.label} ${shapeLabel(shape)}`);
        const row: ScheduleRow = {
          algorithm: target.algorithm,
          candidate: candidate.label,
          ...(key ? { scheduleKey: key } : {}),
          ...(duplicates.length ? { sameAs: duplicates } : {}),
          shape,
          status: 'ok',
        };
        rows.push(row);
        const verdict = verdicts.get(`${target.algorithm}|${candidate.label}`);
        if (keyError !== undefined) {
          row.error = toError(keyError);
          row.status = unsupportedCodes.has(row.error.code) ? 'unsupported' : 'error';
        } else if (verdict && verdict.pass === false) {
          row.status = 'skipped';
          row.error = { code: 'ERR_BENCH_WRONG_RESULT', message: `disagrees with the CPU oracle on the check case: relative L2 ${verdict.vsOracle!.toExponential(2)} > ${verdict.bound ?? checkBound}` };
        } else {
          try {
            row.timing = await timed((warmup, repeats) => target.benchmark(candidate, shape, warmup, repeats));
            row.tops = tops(attentionOps(shape), row.timing.medianMs);
            if (row.timing.attnMs !== undefined && row.timing.attnMs > 0) row.topsAttention = tops(attentionOps(shape), row.timing.attnMs);
            if (candidate.overrides === undefined) ruleMs = row.timing.medianMs;
            if (ruleMs !== undefined) row.speedupVsRule = ruleMs / row.timing.medianMs;
          } catch (err) {
            row.error = toError(err);
            row.status = unsupportedCodes.has(row.error.code) ? 'unsupported' : 'error';
          }
        }
        done += 1 + duplicates.length;
      }
      done += settings.candidates.length - keyed.reduce((n, k) => n + 1 + k.duplicates.length, 0);
    }
    await timeBaseline('after');
  }
  onProgress?.(total, total, 'done');
  return { checkShape, checkBound, candidates: settings.candidates.length, checks, rows, baselines };
}
