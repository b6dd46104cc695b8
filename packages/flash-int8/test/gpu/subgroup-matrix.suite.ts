// flash-int8's subgroup-matrix kernel against the CPU oracle, written against {describe, it} so it runs under vitest
// here (subgroup-matrix.test.ts) and under node:test on GPU hosts (gpu-tests.ts, bundled by apps/bench/gpu/stage.sh).
// - emulated: the kernel with its matrix operations as plain WGSL, on any WebGPU adapter (lavapipe in CI);
// - matrix units: the real kernel where the device has chromium-experimental-subgroup-matrix (the H200 through Dawn);
//   elsewhere it reports why it is skipped.
import assert from 'node:assert/strict';
import { type AttentionShape, resolveShape } from '@qattn/quant-core';
import { attention, compare, generateInputs, type SuiteApi } from '@qattn/reference';
import {
  acquireGpu,
  chooseAttentionSchedule,
  type GpuContext,
  quantizedAttentionOnArrays,
  type SubgroupMatrixConfig,
  webGpuRequired,
} from '@qattn/webgpu-runtime';
import { createWebGpuBackend, flashInt8Attention, type FlashInt8Options, resolveFlashInt8Options } from '../../src/index.js';
import { subgroupMatrixAttention } from '../../src/webgpu/attn-fwd-int8-sgmat.js';
import { chooseInt8MatrixPath } from '../../src/webgpu/subgroup-matrix-schedule.js';
import { flashInt8PlanRequest } from '../../src/webgpu/variant.js';

/** Agreement with the CPU oracle: the bound of the dot4 kernel's conformance tests (same integer arithmetic). */
const ORACLE_AGREEMENT = 5e-4;
/** Against the dot4 kernel on the same device: the same codes and scales, summed in another order. */
const DOT4_AGREEMENT = 1e-5;
/** The float64 bars of the dot4 kernel on LLM-like data (conformance.test.ts): int8 P·V. */
const FLOAT64_BAR = 0.02;

const CASES: Array<{ name: string; shape: AttentionShape; options: FlashInt8Options }> = [
  // The defaults (blockN 64, pCodeMax 255: u8 P·V with the V offset) on causal GQA with tails in both lengths.
  { name: 'defaults, causal GQA, Sq < Skv', shape: { batch: 1, heads: 4, kvHeads: 2, seqQ: 45, seqKV: 70, headDim: 64 }, options: { causal: true } },
  // P codes ≤ 127: i8 P·V, no correction; two batches; global P scale.
  { name: 'pCodeMax 127, global P', shape: { batch: 2, heads: 2, seqQ: 33, seqKV: 33, headDim: 64 }, options: { pCodeMax: 127, pScale: 'global' } },
  // A 32-key tile (one P·V step), V per channel, smoothed V (its mean added back).
  { name: 'blockN 32, V per channel, smoothV', shape: { batch: 1, heads: 2, kvHeads: 1, seqQ: 20, seqKV: 100, headDim: 64 }, options: { blockN: 32, vGranularity: 'channel', smoothV: true } },
  // headDim 128 and seqQ > seqKV (causal rows that see no key output zeros). 32-key tiles: with the emulation's extra
  // Q̂ staging, 64-key tiles at headDim 128 do not fit lavapipe's 32 KiB of workgroup memory (the GPU runs them).
  { name: 'headDim 128, causal seqQ > seqKV', shape: { batch: 1, heads: 2, seqQ: 40, seqKV: 24, headDim: 128 }, options: { causal: true, blockN: 32 } },
];

/** The INT8 configurations of the H200 through Dawn (issue 13), for the emulated kernel's schedule. */
const H200_CONFIGS: SubgroupMatrixConfig[] = [
  { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 },
  { componentType: 'u8', resultComponentType: 'u32', M: 16, N: 16, K: 32 },
];

/** The device for these tests, acquired with subgroup matrices requested, or why there is none. */
export async function subgroupMatrixTestContext(): Promise<{ context?: GpuContext; skipReason?: string }> {
  try {
    return { context: await acquireGpu({ subgroupMatrix: true }) };
  } catch (err) {
    if (webGpuRequired()) throw err;
    return { skipReason: (err as Error).message };
  }
}

function callOf(testCase: (typeof CASES)[number]) {
  const shape = resolveShape(testCase.shape);
  const options = resolveFlashInt8Options(testCase.options);
  const data = generateInputs(testCase.shape, { kind: 'llm', seed: 9 });
  return { ...data, shape, scale: 1 / Math.sqrt(shape.headDim), causal: options.causal, options };
}

async function oracleOf(testCase: (typeof CASES)[number], call: ReturnType<typeof callOf>) {
  return flashInt8Attention(call.q, call.k, call.v, testCase.shape, { ...testCase.options, backend: 'cpu' });
}

/** The emulated kernel's request: the H200's configurations and subgroup size, this device's workgroup memory. */
function emulatedRequest(context: GpuContext, call: ReturnType<typeof callOf>) {
  const { options, shape } = call;
  const planBlockN = chooseAttentionSchedule('int8', shape.headDim, { ...context.limits, software: context.software }, options.blockN, {}, { seqQ: shape.seqQ, causal: call.causal }).blockN;
  // The emulation keeps Q̂'s staging (64 rows at most) beside the kernel's arrays.
  const qStageBytes = 64 * (shape.headDim + 16);
  const path = chooseInt8MatrixPath(
    {
      subgroupMatrix: true,
      subgroups: true,
      subgroupMinSize: 32,
      subgroupMaxSize: 32,
      configs: H200_CONFIGS,
      maxComputeWorkgroupStorageSize: context.limits.maxComputeWorkgroupStorageSize - qStageBytes,
      maxComputeInvocationsPerWorkgroup: context.limits.maxComputeInvocationsPerWorkgroup,
    },
    { headDim: shape.headDim, blockN: options.blockN, planBlockN, pv: options.pv, pCodeMax: options.pCodeMax, exponent: 'exp2' },
    true,
  );
  if (path.kind !== 'subgroup-matrix') throw new Error(`no emulated schedule: ${path.reason}`);
  const kernel = { pScale: options.pScale, pCodeMax: options.pCodeMax, outputF16: false, matrixOps: 'emulated' as const };
  return { request: { ...flashInt8PlanRequest(call), attentionKernel: subgroupMatrixAttention(path.schedule, kernel) }, schedule: path.schedule };
}

export function defineSubgroupMatrixSuite(test: SuiteApi, environment: { context?: GpuContext; skipReason?: string }): void {
  const { describe, it } = test;
  const { context, skipReason } = environment;
  describe('flash-int8 webgpu subgroup-matrix kernel', () => {
    if (!context) {
      it(`skipped: no WebGPU adapter (${skipReason})`, () => {});
      return;
    }
    const dot4 = createWebGpuBackend();
    for (const testCase of CASES) {
      it(`emulated on this adapter agrees with the CPU oracle and the dot4 kernel: ${testCase.name}`, async () => {
        const call = callOf(testCase);
        const { request, schedule } = emulatedRequest(context, call);
        // P codes ≤ 127 run P·V on i8 (no correction); 255 on u8 with the V offset and its correction.
        assert.equal(schedule.pv.operand, call.options.pCodeMax === 127 ? 'i8' : 'u8');
        const out = await quantizedAttentionOnArrays('subgroup-matrix emulated', context, request, call);
        const oracle = await oracleOf(testCase, call);
        const vsOracle = compare(out, oracle).relL2;
        assert.ok(vsOracle <= ORACLE_AGREEMENT, `relative L2 vs the CPU oracle ${vsOracle.toExponential(3)} > ${ORACLE_AGREEMENT}`);
        const vsDot4 = compare(out, await (await dot4).run(call)).relL2;
        assert.ok(vsDot4 <= DOT4_AGREEMENT, `relative L2 vs the dot4 kernel ${vsDot4.toExponential(3)} > ${DOT4_AGREEMENT}`);
        const vsFloat64 = compare(out, attention(call.q, call.k, call.v, testCase.shape, { causal: call.causal })).relL2;
        assert.ok(vsFloat64 <= FLOAT64_BAR, `relative L2 vs float64 ${vsFloat64.toExponential(3)} > ${FLOAT64_BAR}`);
      });
    }

    if (!context.capabilities.subgroupMatrix) {
      it('skipped on the matrix units: requested, but the adapter does not offer chromium-experimental-subgroup-matrix', () => {});
      return;
    }
    const matrix = createWebGpuBackend({ subgroupMatrix: true });
    for (const testCase of CASES) {
      it(`on the matrix units agrees with the CPU oracle and the dot4 kernel: ${testCase.name}`, async () => {
        const call = callOf(testCase);
        const backend = await matrix;
        const { path, pathNote } = await backend.path(call);
        console.info(`${testCase.name}: ${path}${pathNote ? ` (${pathNote})` : ''}`);
        assert.match(path, /^sgmat /, `the subgroup-matrix kernel did not run: ${pathNote}`);
        const out = await backend.run(call);
        const vsOracle = compare(out, await oracleOf(testCase, call)).relL2;
        assert.ok(vsOracle <= ORACLE_AGREEMENT, `relative L2 vs the CPU oracle ${vsOracle.toExponential(3)} > ${ORACLE_AGREEMENT}`);
        const vsDot4 = compare(out, await (await dot4).run(call)).relL2;
        assert.ok(vsDot4 <= DOT4_AGREEMENT, `relative L2 vs the dot4 kernel ${vsDot4.toExponential(3)} > ${DOT4_AGREEMENT}`);
      });
    }
  });
}
