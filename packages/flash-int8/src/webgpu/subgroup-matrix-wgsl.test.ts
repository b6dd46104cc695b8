import type { SubgroupMatrixConfig } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { int8SubgroupMatrixSource } from './attn_fwd_int8_sgmat.wgsl.js';
import { chooseInt8MatrixPath, type SubgroupMatrixSchedule } from './subgroup-matrix-schedule.js';
import { gpuForTests } from './webgpu-test-env.js';

const { context } = await gpuForTests();

const CONFIGS: SubgroupMatrixConfig[] = [
  { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 },
  { componentType: 'u8', resultComponentType: 'u32', M: 16, N: 16, K: 32 },
];

function schedule(pCodeMax: 127 | 255): SubgroupMatrixSchedule {
  const device = { subgroupMatrix: true, subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 32, configs: CONFIGS, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 };
  const path = chooseInt8MatrixPath(device, { headDim: 128, blockN: 64, planBlockN: 64, pv: 'int8', pCodeMax, exponent: 'exp2' }, true);
  if (path.kind !== 'subgroup-matrix') throw new Error(path.reason);
  return path.schedule;
}

/** Tint's messages for a module on this device. */
async function compile(code: string): Promise<string[]> {
  const { device } = context!;
  device.pushErrorScope('validation');
  const info = await device.createShaderModule({ code, label: 'qattn subgroup-matrix compile check' }).getCompilationInfo();
  await device.popErrorScope();
  return info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
}

// What can be checked of the real kernel where no device enables the extension (lavapipe): Tint parses the whole
// module and resolves every declaration before the first matrix type. Where the device has the feature, the GPU-host
// suite (test/gpu/subgroup-matrix.suite.ts) compiles and runs it.
describe.skipIf(!context || context.capabilities.subgroupMatrix)('the subgroup-matrix WGSL through Tint, without the extension', () => {
  for (const pCodeMax of [255, 127] as const) {
    it(`parses, and resolves up to the first matrix type (P codes ≤ ${pCodeMax})`, async () => {
      const wgsl = int8SubgroupMatrixSource(schedule(pCodeMax), { pScale: 'rowmax', pCodeMax, outputF16: false, matrixOps: 'subgroup-matrix' });
      expect(await compile(wgsl)).toEqual([expect.stringMatching(/extension 'chromium_experimental_subgroup_matrix' is not allowed/)]);
      // Without the enable directive the resolver gets past the directives, the declarations and the helpers, to the
      // first use of an 8-bit matrix type: Q̂'s matrices in main.
      const lines = wgsl.split('\n');
      const firstMatrix = lines.findIndex((line) => line.includes('var q_mat: array<subgroup_matrix_left<i8')) + 1;
      const errors = await compile(wgsl.replace('enable chromium_experimental_subgroup_matrix;', '// (enable removed)'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`^${firstMatrix}:\\d+ 'i8' type used without 'chromium_experimental_subgroup_matrix' extension enabled`));
    });
  }

  it('compiles in full in its emulated form', async () => {
    for (const pCodeMax of [255, 127] as const) {
      for (const outputF16 of context!.capabilities.shaderF16 ? [false, true] : [false]) {
        const wgsl = int8SubgroupMatrixSource(schedule(pCodeMax), { pScale: 'rowmax', pCodeMax, outputF16, matrixOps: 'emulated' });
        expect(await compile(wgsl), `pCodeMax ${pCodeMax}, f16 ${outputF16}`).toEqual([]);
      }
    }
  });
});
