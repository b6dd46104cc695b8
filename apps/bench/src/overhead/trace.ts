/**
 * The CUDA runtime's stage trace around a run of calls (`QATTN_CUDA_TRACE=1`, @qattn/cuda-runtime `traceSummary`):
 * where the host round trip of a call goes — the queue thread's pick-up, the launches, the completion thread, the
 * device work as the GPU timed it in this very loop, and the main thread's wake-up. The overhead and decode-cache
 * presets print it after each measured loop; without the variable they print nothing and trace nothing.
 */
import type { CudaTraceStage, CudaTraceSummary } from '@qattn/cuda-runtime';

/** What the bench needs of a runtime to trace: present on @qattn/cuda-runtime's `CudaRuntime`. */
interface TracingRuntime {
  readonly tracing?: boolean;
  traceSummary?(): CudaTraceSummary;
}

/** The trace of the jobs between opening a window and `take()`. */
export interface TraceWindow {
  take(): CudaTraceSummary;
}

/**
 * Opens a trace window on `runtime` (forgets what was traced before), or undefined when it is not tracing: the
 * variable is unset, or the runtime predates the trace.
 */
export function openTraceWindow(runtime: unknown): TraceWindow | undefined {
  const traced = runtime as TracingRuntime | undefined;
  if (!traced?.tracing || typeof traced.traceSummary !== 'function') return undefined;
  traced.traceSummary();
  return { take: () => traced.traceSummary!() };
}

/** Columns of the printed trace: the runtime's stages in pipeline order. */
const STAGES: readonly CudaTraceStage[] = ['queue', 'enqueue', 'handoff', 'wait', 'device', 'settle', 'total'];

/**
 * The trace as a text table under `title`: one line per job label, each stage as `median/p90` in µs (`-` where no
 * job of the label reached it), and the stage legend.
 */
export function formatTrace(title: string, summary: CudaTraceSummary): string {
  const cell = (label: CudaTraceSummary['labels'][number], stage: CudaTraceStage) => {
    const s = label.stages[stage];
    return s ? `${s.medianUs.toFixed(1)}/${s.p90Us.toFixed(1)}` : '-';
  };
  const rows = [['job', 'jobs', ...STAGES], ...summary.labels.map((label) => [label.label, String(label.jobs), ...STAGES.map((stage) => cell(label, stage))])];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = rows.map((row) => `  ${row.map((text, c) => (c === 0 ? text.padEnd(widths[c]) : text.padStart(widths[c]))).join('  ')}`);
  const dropped = summary.dropped > 0 ? ` (${summary.dropped} records dropped)` : '';
  return [
    `cuda trace: ${title}: ${summary.jobs} jobs${dropped}, median/p90 µs per stage`,
    ...lines,
    '  queue: submit → queue thread; enqueue: launches and event record; handoff: → completion thread; wait: → event complete;',
    '  device: GPU time of the job (events around it); settle: → main thread settles; total: submit → settle (wall − total = JS)',
    '',
  ].join('\n');
}
