import { type AttentionShape, resolveShape } from '@qattn/quant-core';
import { compare, generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { type FlashInt8Options, flashInt8Attention, resolveFlashInt8Options } from '../index.js';
import { createWebGpuBackend } from './backend.js';
import type { ScheduleOverrides } from '@qattn/webgpu-runtime';
import { gpuForTests } from './webgpu-test-env.js';

const { context } = await gpuForTests();

// Software adapters get 1 row per thread by default; these pin the GPU schedules (the H200 rule, the schedule before
// it, heavy tiles first, wide P·V channel tiles) so their code paths are checked here too, not only on the GPU.
const SCHEDULES: ScheduleOverrides[] = [
  { rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 4 },
  { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 1 },
  { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 4, heavyTilesFirst: true },
  { rowsPerThread: 2, workgroupSize: 64, pvChannelTile: 8, heavyTilesFirst: true },
];

// Causal GQA with tails in both lengths and seqQ < seqKV; blockN 16 so every schedule's key tile is the oracle's P block.
const shape: AttentionShape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 45, seqKV: 70, headDim: 64 };

describe.skipIf(!context)('flash-int8 webgpu schedules', () => {
  for (const [pv, causal] of [
    ['int8', true],
    ['fp16', false],
  ] as const) {
    it(`agrees with the CPU oracle under every pinned schedule (pv ${pv}, causal ${causal}, relative L2 ≤ 5e-4)`, async () => {
      const data = generateInputs(shape, { kind: 'llm', seed: 5 });
      const options: FlashInt8Options = { causal, pv, blockN: 16 };
      const oracle = await flashInt8Attention(data.q, data.k, data.v, shape, { ...options, backend: 'cpu' });
      const call = { ...data, shape: resolveShape(shape), scale: 1 / Math.sqrt(shape.headDim), causal, options: resolveFlashInt8Options(options) };
      const outputs: Float32Array[] = [];
      for (const schedule of SCHEDULES) {
        const out = await (await createWebGpuBackend({ schedule })).run(call);
        expect(compare(out, oracle).relL2, JSON.stringify(schedule)).toBeLessThanOrEqual(5e-4);
        outputs.push(out);
      }
      // Same arithmetic in a different order of work: the schedules agree with each other to float rounding.
      for (const out of outputs.slice(1)) expect(compare(out, outputs[0]).relL2).toBeLessThanOrEqual(1e-5);
    });
  }
});
