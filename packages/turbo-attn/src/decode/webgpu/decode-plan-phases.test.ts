/// <reference types="@webgpu/types" />
// DecodePlan.encode's profiling form: with a `mark` callback every dispatch runs in its own compute pass with a mark
// after it (timePhases's per-dispatch phases), and the step computes exactly what the one-pass form does.
import { type WebGpuKVCache, createKVCache } from '@qattn/kv-cache';
import { sasThresholdForKeys, unsharedView } from '@qattn/quant-core';
import { generateInputs } from '@qattn/reference';
import { MapMode } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { gpu } from '../../webgpu/webgpu-test-env.js';
import type { DecodeParams } from '../decode_paged_cpu.js';
import { decodePlanFor, webGpuDecodeSchedule } from './decode-plan.js';

describe.skipIf(!gpu)('DecodePlan.encode with phase marks', () => {
  it('marks 0 … dispatches in order (q + sink, each page pass, buffer, combine) and leaves out and lse bit for bit unchanged', async () => {
    const context = gpu!;
    const [batch, heads, kvHeads, headDim, length] = [2, 8, 2, 64, 150];
    const data = generateInputs({ batch, heads, kvHeads, seqQ: 1, seqKV: length, headDim }, { kind: 'llm', seed: 21 });
    // The paper's half-and-half mix at 16 bindings: two page passes, so five dispatches.
    const cache = (await createKVCache({ batch, kvHeads, headDim, backend: 'webgpu', pageSize: 16, lowBitFraction: 0.5 })) as WebGpuKVCache;
    try {
      cache.append(data.k, data.v);
      const params: DecodeParams = {
        heads,
        queryTokens: 1,
        scale: 1 / Math.sqrt(headDim),
        pagesPerSplit: 16,
        variant: { exponent: 'sas', sasThreshold: sasThresholdForKeys(length), skipSparseTiles: true },
      };
      const storage = cache.storageOnDevice();
      const schedule = webGpuDecodeSchedule(storage, params, { maxStorageBuffers: 16, pagesPerSplit: 2 });
      expect(schedule.pagePasses.length).toBe(2);
      const plan = decodePlanFor(context, { batch, heads, kvHeads, queryTokens: 1, headDim });
      const run = async (marked: boolean) => {
        const marks: number[] = [];
        const io = plan.claimIo();
        try {
          context.device.queue.writeBuffer(io.q, 0, unsharedView(data.q));
          const encoder = context.device.createCommandEncoder();
          const mark = (index: number) => {
            marks.push(index);
            encoder.beginComputePass().end();
          };
          plan.encode(encoder, storage, params, schedule, io, marked ? mark : undefined);
          const outBytes = plan.outElements * 4;
          encoder.copyBufferToBuffer(io.out, 0, io.readback, 0, outBytes);
          encoder.copyBufferToBuffer(io.lse, 0, io.readback, outBytes, plan.lseElements * 4);
          context.device.queue.submit([encoder.finish()]);
          await io.readback.mapAsync(MapMode.READ);
          const bytes = new Uint32Array(io.readback.getMappedRange().slice(0));
          io.readback.unmap();
          return { bytes, marks };
        } finally {
          plan.releaseIo(io);
        }
      };
      const plain = await run(false);
      const marked = await run(true);
      expect(plain.marks).toEqual([]);
      expect(marked.marks).toEqual([0, 1, 2, 3, 4, 5]);
      expect(marked.bytes.some((word) => word !== 0)).toBe(true);
      expect(marked.bytes).toEqual(plain.bytes);
    } finally {
      cache.dispose();
    }
  });
});
