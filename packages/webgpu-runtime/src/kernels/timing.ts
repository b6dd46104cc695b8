import type { BenchmarkSettings } from '@qattn/quant-core';
import type { GpuContext } from '../device.js';
import { GpuTimestamps } from '../timestamps.js';

/**
 * Encodes one repetition; `mark(i)` records timestamp i (an empty pass) where timestamp queries exist. Returns the
 * buffers to destroy once the repetition has run, if any.
 */
export type EncodeRepetition = (encoder: GPUCommandEncoder, mark: (index: number) => void) => GPUBuffer[] | void;

/**
 * The timestamp write of phase mark `index`: at the end of an empty compute pass, never at its beginning. Dawn's Vulkan
 * backend writes a beginning-of-pass timestamp at `TOP_OF_PIPE`, which waits for no earlier dispatch: the stamp can be
 * taken while the previous phase still runs (its time is then charged to the next phase, and the last mark can land
 * before the last dispatch finishes). An end-of-pass timestamp is written at `BOTTOM_OF_PIPE`, after every earlier
 * command has completed, so each mark is the completion time of everything encoded before it.
 */
export function phaseMarkWrites(timestamps: Pick<GpuTimestamps, 'passWrites'>, index: number): GPUComputePassTimestampWrites {
  return timestamps.passWrites(undefined, index);
}

/**
 * Times `marks` − 1 consecutive phases of a GPU workload over `repeats` repetitions after `warmup` untimed ones.
 * With `timestamp-query`, each repetition is its own submission bracketed by GPU timestamps (empty compute passes that
 * write one timestamp each at their end, {@link phaseMarkWrites}: a phase lasts from the completion of the work before
 * its mark to the completion of its own); otherwise the host times submit → onSubmittedWorkDone and only the whole
 * repetition is known. Returns per-phase samples in milliseconds.
 */
export async function timePhases(
  context: GpuContext,
  marks: number,
  settings: BenchmarkSettings,
  encode: EncodeRepetition,
): Promise<{ timer: 'timestamp-query' | 'host'; phases: number[][]; totals: number[] }> {
  const { device } = context;
  const useTimestamps = GpuTimestamps.supported(context);
  const timestamps = useTimestamps ? new GpuTimestamps(context, marks) : undefined;
  const phases: number[][] = Array.from({ length: marks - 1 }, () => []);
  const totals: number[] = [];
  try {
    for (let rep = 0; rep < settings.warmup + settings.repeats; rep++) {
      const timed = rep >= settings.warmup;
      const encoder = device.createCommandEncoder({ label: 'qattn benchmark' });
      const mark = (index: number): void => {
        if (!timestamps) return;
        encoder.beginComputePass({ timestampWrites: phaseMarkWrites(timestamps, index) }).end();
      };
      const transient = encode(encoder, mark) ?? [];
      if (timestamps) timestamps.resolve(encoder);
      const start = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const hostMs = performance.now() - start;
      for (const buffer of transient) buffer.destroy();
      if (!timed) continue;
      if (timestamps) {
        const ns = await timestamps.read();
        for (let p = 0; p < marks - 1; p++) phases[p].push((ns[p + 1] - ns[p]) / 1e6);
        totals.push((ns[marks - 1] - ns[0]) / 1e6);
      } else {
        totals.push(hostMs);
      }
    }
  } finally {
    timestamps?.destroy();
  }
  return { timer: timestamps ? 'timestamp-query' : 'host', phases, totals };
}
