// The stage trace of the runtime's jobs, summarized: where the host round trip of a call goes. The addon stamps each
// traced job at every hand-over of the queue model (native/job_trace.h) and times its device work with events; this
// turns the records into median and p90 durations per stage and per job label.
import { QattnError } from '@qattn/quant-core';
import type { NativeTrace } from './binding.js';

/**
 * The stages of a traced job, in microseconds (native/job_trace.h kTraceStages, in the same order):
 * - `queue`: submitted on the main thread → taken by the queue thread (its wake-up, and the jobs ahead of it);
 * - `enqueue`: the queue thread's host work — copies, launchers, the completion event;
 * - `handoff`: enqueued → taken by the completion thread (its wake-up, and earlier jobs' device work);
 * - `wait`: taken by the completion thread → its event observed complete (device work, launch latency, observation);
 * - `device`: the device time of the job's work alone, between two timing events recorded around it;
 * - `settle`: event observed → the main thread about to settle the promise (staging copies, the thread-safe call,
 *   the main thread's wake-up);
 * - `total`: submitted → about to settle. What JS adds before the call and after the settle is the wall time of the
 *   call minus `total`.
 */
export const CUDA_TRACE_STAGES = ['queue', 'enqueue', 'handoff', 'wait', 'device', 'settle', 'total'] as const;
export type CudaTraceStage = (typeof CUDA_TRACE_STAGES)[number];

/** One stage over the jobs of one label: how many jobs reached it, and the median and 90th percentile in µs. */
export interface CudaTraceStageStats {
  count: number;
  medianUs: number;
  p90Us: number;
}

/** The jobs of one label (the `what` of a launch or submit, or the runtime call: `upload`, `free`, …). */
export interface CudaTraceLabel {
  label: string;
  jobs: number;
  /** Stages no job of the label reached are absent (a fire-and-forget `free` never reaches the completion thread). */
  stages: Partial<Record<CudaTraceStage, CudaTraceStageStats>>;
}

/** The traced jobs settled since the previous summary, by label in order of first appearance. */
export interface CudaTraceSummary {
  jobs: number;
  /** Records the addon dropped because its buffer was full (take summaries more often). */
  dropped: number;
  labels: CudaTraceLabel[];
}

/** The p-quantile of an ascending sample, linearly interpolated between neighbours. */
function quantile(sorted: readonly number[], p: number): number {
  const position = p * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

/**
 * Summarizes the records of `traceTake()`. Throws `ERR_QATTN_BACKEND_UNAVAILABLE` when the addon's stages are not
 * {@link CUDA_TRACE_STAGES} (an addon built from other sources: rebuild it).
 */
export function summarizeTrace(raw: NativeTrace): CudaTraceSummary {
  const width = CUDA_TRACE_STAGES.length;
  if (raw.stages.length !== width || raw.stages.some((stage, i) => stage !== CUDA_TRACE_STAGES[i])) {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `cuda trace: the addon reports stages [${raw.stages.join(', ')}], expected [${CUDA_TRACE_STAGES.join(', ')}]: rebuild it`);
  }
  const jobs = raw.label.length;
  const samples = raw.labels.map(() => CUDA_TRACE_STAGES.map((): number[] => []));
  const counts = raw.labels.map(() => 0);
  for (let record = 0; record < jobs; record++) {
    const label = raw.label[record];
    counts[label]++;
    for (let stage = 0; stage < width; stage++) {
      const value = raw.values[record * width + stage];
      if (!Number.isNaN(value)) samples[label][stage].push(value);
    }
  }
  const labels = raw.labels.map((label, index): CudaTraceLabel => {
    const stages: CudaTraceLabel['stages'] = {};
    CUDA_TRACE_STAGES.forEach((stage, s) => {
      const sorted = samples[index][s].sort((a, b) => a - b);
      if (sorted.length > 0) stages[stage] = { count: sorted.length, medianUs: quantile(sorted, 0.5), p90Us: quantile(sorted, 0.9) };
    });
    return { label, jobs: counts[index], stages };
  });
  return { jobs, dropped: raw.dropped, labels };
}
