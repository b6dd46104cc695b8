import type { SubgroupMatrixConfig } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { int8SubgroupMatrixKey, int8SubgroupMatrixSource } from './attn_fwd_int8_sgmat.wgsl.js';
import { chooseInt8MatrixPath, type SubgroupMatrixDevice, type SubgroupMatrixProblem, type SubgroupMatrixSchedule } from './subgroup-matrix-schedule.js';

const config = (componentType: string, resultComponentType: string, M: number, N: number, K: number): SubgroupMatrixConfig => ({
  componentType,
  resultComponentType,
  M,
  N,
  K,
});

/** The H200 through Dawn on the NVIDIA Vulkan driver (issue 13): INT8 only, M16 N16 K32 and M16 N8 K32, subgroups of 32. */
const H200: SubgroupMatrixDevice = {
  subgroupMatrix: true,
  subgroups: true,
  subgroupMinSize: 32,
  subgroupMaxSize: 32,
  configs: [config('i8', 'i32', 16, 8, 32), config('i8', 'i32', 16, 16, 32), config('u8', 'u32', 16, 16, 32), config('u8', 'u32', 16, 8, 32)],
  maxComputeWorkgroupStorageSize: 49152,
  maxComputeInvocationsPerWorkgroup: 1024,
};
const DEFAULTS: SubgroupMatrixProblem = { headDim: 128, blockN: 64, planBlockN: 64, pv: 'int8', pCodeMax: 255, exponent: 'exp2' };

function matrix(device: SubgroupMatrixDevice, problem: Partial<SubgroupMatrixProblem> = {}): SubgroupMatrixSchedule {
  const path = chooseInt8MatrixPath(device, { ...DEFAULTS, ...problem }, true);
  if (path.kind !== 'subgroup-matrix') throw new Error(`expected the subgroup-matrix path, got dot4: ${path.reason}`);
  return path.schedule;
}

function reason(device: SubgroupMatrixDevice, problem: Partial<SubgroupMatrixProblem> = {}, requested = true): string {
  const path = chooseInt8MatrixPath(device, { ...DEFAULTS, ...problem }, requested);
  if (path.kind !== 'dot4') throw new Error(`expected the dot4 path, got ${path.schedule.label}`);
  return path.reason;
}

describe('chooseInt8MatrixPath', () => {
  it('picks i8 16×16×32 for Q·Kᵀ and u8 16×16×32 for P·V on the H200 at the defaults, in 48 KiB', () => {
    const s = matrix(H200);
    expect(s).toMatchObject({
      qk: { M: 16, N: 16, K: 32, operand: 'i8', result: 'i32' },
      pv: { M: 16, N: 16, K: 32, operand: 'u8', result: 'u32' },
      subgroupSize: 32,
      subgroups: 4,
      workgroupSize: 128,
      blockM: 64,
      blockN: 64,
      rowThreads: 2,
      qkStride: 144,
      pvStride: 80,
      scoreStride: 68,
      // A 128-channel staging (64 × 132 × 4 bytes) would not fit: two chunks of 64.
      outChunk: 64,
      outStride: 68,
      label: 'sgmat i8 16×16×32 · u8 16×16×32',
    });
    // Q then S: max(64 × 144 / 4, 64 × 68); K: 64 × 144 / 4; V, P then the staging: max((128 + 64) × 80 / 4, 64 × 68).
    expect(s.words).toEqual({ qs: 4352, k: 2304, vp: 4352 });
    expect(s.workgroupBytes).toBe((4352 + 2304 + 4352) * 4 + 64 * 4 + 2 * 64 * 2 * 4);
    expect(s.workgroupBytes).toBeLessThanOrEqual(H200.maxComputeWorkgroupStorageSize);
    // Every stride the matrix loads and stores use is a multiple of 16 bytes.
    for (const bytes of [s.qkStride, s.pvStride, s.scoreStride * 4, s.outStride * 4]) expect(bytes % 16).toBe(0);
  });

  it('runs P·V on i8 with P codes ≤ 127, and falls back where pCodeMax 255 has no u8 configuration', () => {
    expect(matrix(H200, { pCodeMax: 127 }).pv).toMatchObject({ operand: 'i8', result: 'i32' });
    const i8Only = { ...H200, configs: H200.configs.filter((c) => c.componentType === 'i8') };
    expect(reason(i8Only)).toMatch(/no u8×u8→u32 configuration with M 16 fits/);
  });

  it('takes N 8 where only that fits, and blockN 32 as a single P·V step', () => {
    const n8 = { ...H200, configs: H200.configs.filter((c) => c.N === 8) };
    expect(matrix(n8)).toMatchObject({ qk: { N: 8 }, pv: { N: 8 }, label: 'sgmat i8 16×8×32 · u8 16×8×32' });
    expect(matrix(H200, { blockN: 32, planBlockN: 32 })).toMatchObject({ blockN: 32, pvStride: 48, scoreStride: 36 });
  });

  it('shrinks the output chunk, then the workgroup, to the device’s workgroup memory', () => {
    const small = matrix({ ...H200, maxComputeWorkgroupStorageSize: 32768 }, { headDim: 64 });
    expect(small.workgroupBytes).toBeLessThanOrEqual(32768);
    expect(matrix({ ...H200, maxComputeWorkgroupStorageSize: 24000 }, { headDim: 64 }).subgroups).toBeLessThan(4);
    expect(reason({ ...H200, maxComputeWorkgroupStorageSize: 4096 })).toMatch(/fits 4096 bytes of workgroup memory/);
  });

  it('says why the dot4 kernel runs', () => {
    expect(reason(H200, {}, false)).toMatch(/opt-in until verified on hardware \(QATTN_WEBGPU_SUBGROUP_MATRIX=1/);
    expect(reason({ ...H200, subgroupMatrix: false, configs: [] })).toMatch(/lacks chromium-experimental-subgroup-matrix: the adapter does not offer it/);
    // The feature with an empty config list (what a browser adapter without matrix units may report).
    expect(reason({ ...H200, configs: [] })).toMatch(/reports no subgroup-matrix configurations \(GPUAdapterInfo.subgroupMatrixConfigs is empty\)/);
    expect(reason({ ...H200, subgroups: false })).toMatch(/lacks subgroups/);
    expect(reason({ ...H200, subgroupMinSize: 16, subgroupMaxSize: 32 })).toMatch(/subgroup size is not fixed \(16–32\)/);
    expect(reason(H200, { pv: 'fp16' })).toMatch(/pv 'fp16' has no INT8 P·V/);
    expect(reason(H200, { exponent: 'sas' })).toMatch(/exp2 softmax only/);
    expect(reason(H200, { blockN: 16, planBlockN: 16 })).toMatch(/no u8×u8→u32 configuration with M 16 fits blockN 16/);
    expect(reason(H200, { planBlockN: 32 })).toMatch(/dot4 plan's key tile \(32\) differs from blockN 64/);
    expect(reason(H200, { headDim: 256 })).toMatch(/128 output accumulators/);
    expect(reason(H200, { headDim: 48 })).toMatch(/no i8×i8→i32 configuration fits headDim 48/);
    // Metal's f16/f32 8×8 matrices: no INT8.
    expect(reason({ ...H200, configs: [config('f16', 'f16', 8, 8, 8), config('f32', 'f32', 8, 8, 8)] })).toMatch(/no i8×i8→i32/);
  });
});

describe('the subgroup-matrix WGSL', () => {
  const schedule = matrix(H200);
  const kernel = { pScale: 'rowmax', pCodeMax: 255, outputF16: false, matrixOps: 'subgroup-matrix' } as const;

  it('is a deterministic function of the schedule and kernel, named by its pipeline key', () => {
    expect(int8SubgroupMatrixSource(schedule, kernel)).toBe(int8SubgroupMatrixSource(matrix(H200), { ...kernel }));
    const keys = new Set(
      [kernel, { ...kernel, pCodeMax: 127 as const }, { ...kernel, pScale: 'global' as const }, { ...kernel, outputF16: true }, { ...kernel, matrixOps: 'emulated' as const }].map(
        (k) => int8SubgroupMatrixKey(schedule, k),
      ),
    );
    expect(keys.size).toBe(5);
    expect(int8SubgroupMatrixKey(schedule, kernel)).not.toBe(int8SubgroupMatrixKey(matrix(H200, { pCodeMax: 127 }), kernel));
  });

  it('declares the extension, the configuration’s matrix types and the u8 correction', () => {
    const wgsl = int8SubgroupMatrixSource(schedule, kernel);
    expect(wgsl).toMatch(/^enable chromium_experimental_subgroup_matrix;$/m);
    expect(wgsl).toMatch(/^diagnostic\(off, chromium\.subgroup_matrix_uniformity\);$/m);
    expect(wgsl).toContain('@builtin(subgroup_id) sg: u32');
    // WGSL's subgroup matrix types take <T, columns, rows>: left M×K, right K×N, result M×N.
    for (const type of [
      'subgroup_matrix_left<i8, 32, 16>',
      'subgroup_matrix_right<i8, 16, 32>',
      'subgroup_matrix_result<i32, 16, 16>',
      'subgroup_matrix_left<u8, 32, 16>',
      'subgroup_matrix_right<u8, 16, 32>',
      'subgroup_matrix_result<u32, 16, 16>',
    ]) {
      expect(wgsl).toContain(type);
    }
    expect(wgsl).toContain('var<workgroup> vp_smem: array<u32, VP_WORDS>;');
    expect(wgsl).toContain('word ^ 0x80808080u');
    expect(wgsl).toMatch(/const PV_U8: bool = true;/);
    const signed = int8SubgroupMatrixSource(matrix(H200, { pCodeMax: 127 }), { ...kernel, pCodeMax: 127 });
    expect(signed).toContain('var<workgroup> vp_smem: array<i32, VP_WORDS>;');
    expect(signed).toMatch(/const PV_U8: bool = false;/);
    expect(signed).not.toContain('0x80808080u');
  });

  it('emulates the matrix operations with plain WGSL, reading the same offsets and strides', () => {
    const emulated = int8SubgroupMatrixSource(schedule, { ...kernel, matrixOps: 'emulated' });
    expect(emulated).not.toMatch(/subgroupMatrix|subgroup_matrix|enable subgroups|subgroup_id/);
    // The loads' offset expressions, element by element (row-major left, column-major right).
    expect(emulated).toContain('i8_at_q(sg * QK_M * QK_STRIDE + kk * QK_K + r * QK_STRIDE + k) * i8_at_k(n * QK_N * QK_STRIDE + kk * QK_K + c * QK_STRIDE + k)');
    expect(emulated).toContain('pv_at(P_OFFSET + sg * PV_M * PV_STRIDE + kk * PV_K + r * PV_STRIDE + k) * pv_at(n * PV_N * PV_STRIDE + kk * PV_K + c * PV_STRIDE + k)');
  });
});
