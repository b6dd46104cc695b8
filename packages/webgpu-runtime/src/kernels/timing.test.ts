import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device.js';
import { timePhases } from './timing.js';

/**
 * A device that records the compute passes encoded and resolves timestamps to `stampsNs`: enough of WebGPU for
 * timePhases and GpuTimestamps, so the command stream they encode can be checked on any machine.
 */
function recordingContext(stampsNs: number[]): { context: GpuContext; passes: GPUComputePassDescriptor[] } {
  const passes: GPUComputePassDescriptor[] = [];
  const buffer = () => ({
    mapAsync: async () => {},
    getMappedRange: () => new BigInt64Array(stampsNs.map((ns) => BigInt(ns))).buffer,
    unmap: () => {},
    destroy: () => {},
  });
  const device = {
    createQuerySet: () => ({ destroy: () => {} }),
    createBuffer: buffer,
    createCommandEncoder: () => ({
      beginComputePass: (descriptor: GPUComputePassDescriptor = {}) => {
        passes.push(descriptor);
        return { end: () => {} };
      },
      resolveQuerySet: () => {},
      copyBufferToBuffer: () => {},
      finish: () => ({}),
    }),
    queue: { submit: () => {}, onSubmittedWorkDone: async () => {} },
  };
  const context = { device, capabilities: { timestampQuery: true } } as unknown as GpuContext;
  return { context, passes };
}

describe('timePhases', () => {
  it('stamps each mark at the end of an empty pass, so a mark waits for the work encoded before it', async () => {
    // Dawn/Vulkan writes beginning-of-pass stamps at TOP_OF_PIPE (not ordered after earlier dispatches) and
    // end-of-pass stamps at BOTTOM_OF_PIPE (after every earlier command completed): only the latter bound a phase.
    const { context, passes } = recordingContext([1_000_000, 3_000_000, 7_500_000]);
    const timing = await timePhases(context, 3, { warmup: 1, repeats: 2 }, (encoder, mark) => {
      mark(0);
      encoder.beginComputePass({ label: 'quantize' }).end();
      mark(1);
      encoder.beginComputePass({ label: 'attention' }).end();
      mark(2);
    });
    // Per repetition: mark 0, quantize, mark 1, attention, mark 2.
    expect(passes).toHaveLength(3 * 5);
    const marks = passes.filter((pass) => pass.timestampWrites !== undefined);
    expect(marks).toHaveLength(3 * 3);
    for (const [i, pass] of marks.entries()) {
      expect(pass.timestampWrites?.endOfPassWriteIndex, `mark ${i}`).toBe(i % 3);
      expect(pass.timestampWrites?.beginningOfPassWriteIndex, `mark ${i}`).toBeUndefined();
    }
    expect(passes.slice(0, 5).map((pass) => pass.label ?? `mark ${pass.timestampWrites?.endOfPassWriteIndex}`)).toEqual([
      'mark 0',
      'quantize',
      'mark 1',
      'attention',
      'mark 2',
    ]);
    expect(timing).toEqual({ timer: 'timestamp-query', phases: [[2, 2], [4.5, 4.5]], totals: [6.5, 6.5] });
  });
});
