import { describe, expect, it } from 'vitest';
import { chooseAttentionSchedule, isSupportedHeadDim, workgroupBytesOf } from './schedule.js';

const LAVAPIPE = { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024, software: true };
const NVIDIA_VULKAN = { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 };
const WEBGPU_DEFAULTS = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };

describe('chooseAttentionSchedule', () => {
  it('supports multiples of 16 in [32, 256] and nothing else', () => {
    expect([32, 48, 64, 96, 128, 160, 256].every(isSupportedHeadDim)).toBe(true);
    expect([0, 16, 40, 100, 272, 64.5].some(isSupportedHeadDim)).toBe(false);
    expect(() => chooseAttentionSchedule('int8', 100, NVIDIA_VULKAN)).toThrow(expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' }));
  });

  it('gives int8 at headDim 128 its 64×64 tiles, 4 rows per thread, on a 48 KiB GPU', () => {
    const schedule = chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN);
    expect(schedule).toMatchObject({ blockM: 64, blockN: 64, rowsPerThread: 4, threadsPerRow: 8, channelsPerThread: 16, workgroupSize: 128, unrollWords: true });
  });

  it('keeps every schedule inside the device limits, for every head dim and arithmetic', () => {
    for (const limits of [LAVAPIPE, NVIDIA_VULKAN, WEBGPU_DEFAULTS]) {
      for (const arithmetic of ['int8', 'int8-pv-fp16'] as const) {
        for (let headDim = 32; headDim <= 256; headDim += 16) {
          const s = chooseAttentionSchedule(arithmetic, headDim, limits);
          expect(s.workgroupBytes).toBeLessThanOrEqual(limits.maxComputeWorkgroupStorageSize);
          expect(s.workgroupBytes).toBe(workgroupBytesOf(arithmetic, headDim, s.blockM, s.blockN, s.threadsPerRow));
          expect(s.workgroupSize).toBeLessThanOrEqual(limits.maxComputeInvocationsPerWorkgroup);
          expect(s.blockM).toBe((s.workgroupSize / s.threadsPerRow) * s.rowsPerThread);
          expect(s.channelsPerThread * s.threadsPerRow).toBe(headDim);
          // Q·Kᵀ covers every group of 4 keys of the tile exactly once.
          expect(s.keyGroupsPerThread * s.threadsPerRow).toBeGreaterThanOrEqual(s.blockN / 4);
          expect((s.keyGroupsPerThread - 1) * s.threadsPerRow).toBeLessThan(s.blockN / 4);
        }
      }
    }
  });

  it('shrinks the float baseline tiles, whose words are 4× larger, and rejects head dims it cannot split', () => {
    const f32 = chooseAttentionSchedule('f32', 128, NVIDIA_VULKAN);
    const int8 = chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN);
    expect(f32.blockM * f32.blockN).toBeLessThan(int8.blockM * int8.blockN);
    expect(f32.workgroupBytes).toBeLessThanOrEqual(NVIDIA_VULKAN.maxComputeWorkgroupStorageSize);
    expect(() => chooseAttentionSchedule('f32', 48, NVIDIA_VULKAN)).toThrow(expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' }));
  });

  it('takes the preferred key tile when it fits, so P tiles match the CPU oracle', () => {
    expect(chooseAttentionSchedule('int8', 64, NVIDIA_VULKAN, 32).blockN).toBe(32);
    expect(chooseAttentionSchedule('int8', 64, NVIDIA_VULKAN, 48).blockN).toBe(64);
  });

  it('rolls the word loops and uses 1 row per thread on software adapters, and keys the pipeline cache by it', () => {
    const software = chooseAttentionSchedule('int8', 64, LAVAPIPE);
    const gpu = chooseAttentionSchedule('int8', 64, { ...LAVAPIPE, software: false });
    expect(software).toMatchObject({ rowsPerThread: 1, unrollWords: false });
    expect(gpu.unrollWords).toBe(true);
    expect(software.key).not.toBe(gpu.key);
  });

  it('is a pure function of its arguments', () => {
    expect(chooseAttentionSchedule('int8', 96, LAVAPIPE, 32)).toEqual(chooseAttentionSchedule('int8', 96, LAVAPIPE, 32));
  });

  it('throws ERR_QATTN_UNSUPPORTED when no tile fits the workgroup memory', () => {
    expect(() => chooseAttentionSchedule('int8', 256, { maxComputeWorkgroupStorageSize: 4096, maxComputeInvocationsPerWorkgroup: 256 })).toThrow(
      expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' }),
    );
  });
});
