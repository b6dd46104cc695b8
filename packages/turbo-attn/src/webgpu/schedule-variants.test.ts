import { type AttentionShape, resolveShape } from '@qattn/quant-core';
import { compare, generateInputs } from '@qattn/reference';
import type { ScheduleOverrides } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { resolveTurboOptions, turboAttentionWithStats, type TurboOptions } from '../index.js';
import { createWebGpuBackend } from './backend.js';
import { gpu, oracleAgreement, SAS_PRECISIONS } from './webgpu-test-env.js';

// Software adapters get 1 row per thread; these pin GPU schedules (several rows per thread, heavy tiles first, wide
// P·V channel tiles) so that the workgroup-wide tile skip and, for SAS in f16, the cross-thread P max run with them
// here too.
const SCHEDULES: ScheduleOverrides[] = [
  { rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 4 },
  { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 4, heavyTilesFirst: true },
  { rowsPerThread: 2, workgroupSize: 64, pvChannelTile: 8, heavyTilesFirst: true },
];

// Causal GQA with tails in both lengths; blockN 32 so every schedule's key tile is the oracle's P block.
const shape: AttentionShape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 90, seqKV: 200, headDim: 64 };

describe.skipIf(!gpu)('turbo-attn webgpu schedules', () => {
  for (const sasPrecision of SAS_PRECISIONS) {
    for (const [name, options, sharpness] of [
      ['defaults', { causal: true, blockN: 32 }, 1],
      ['sharp, T = 3 (tiles skipped)', { causal: true, blockN: 32, sasThreshold: 3 }, 6],
    ] as Array<[string, TurboOptions, number]>) {
      const agreement = oracleAgreement({}, sasPrecision);
      it(`agrees with the CPU oracle under every pinned schedule (${name}, SAS in ${sasPrecision}, relative L2 ≤ ${agreement})`, async () => {
        const data = generateInputs(shape, { kind: 'llm', seed: 5, sharpness });
        const { out: oracle, stats } = await turboAttentionWithStats(data.q, data.k, data.v, shape, options);
        if (sharpness > 1) expect(stats.skippedSparse).toBeGreaterThan(0);
        const call = { ...data, shape: resolveShape(shape), scale: 1 / Math.sqrt(shape.headDim), causal: true, options: resolveTurboOptions(options) };
        for (const schedule of SCHEDULES) {
          const out = await (await createWebGpuBackend({ schedule, sasPrecision })).run(call);
          expect(compare(out, oracle).relL2, JSON.stringify(schedule)).toBeLessThanOrEqual(agreement);
        }
      });
    }
  }
});
