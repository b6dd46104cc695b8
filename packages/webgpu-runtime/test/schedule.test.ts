import { describe, expect, it } from 'vitest';
import { chooseAttentionSchedule, int8Preferences, isSupportedHeadDim, workgroupBytesOf } from '../src/kernels/schedule.js';

const LAVAPIPE = { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024, software: true };
const NVIDIA_VULKAN = { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 };
const WEBGPU_DEFAULTS = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };

describe('chooseAttentionSchedule', () => {
  it('supports multiples of 16 in [32, 256] and nothing else', () => {
    expect([32, 48, 64, 96, 128, 160, 256].every(isSupportedHeadDim)).toBe(true);
    expect([0, 16, 40, 100, 272, 64.5].some(isSupportedHeadDim)).toBe(false);
    expect(() => chooseAttentionSchedule('int8', 100, NVIDIA_VULKAN)).toThrow(expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' }));
  });

  it('gives int8 at headDim 128 on a 48 KiB GPU the measured H200 winners, keyed on the problem and the key tile', () => {
    // 64-key blocks: 512 threads × 2 rows (128×64 tiles in 46.8 KiB), except short causal problems: 256 threads.
    const long = chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 64, {}, { seqQ: 4096, causal: true });
    expect(long).toMatchObject({ blockM: 128, blockN: 64, rowsPerThread: 2, threadsPerRow: 8, pvChannelTile: 4, workgroupSize: 512, unrollWords: true });
    expect(long.workgroupBytes).toBe(workgroupBytesOf('int8', 128, 128, 64, 8));
    expect(long.workgroupBytes).toBeLessThanOrEqual(NVIDIA_VULKAN.maxComputeWorkgroupStorageSize);
    for (const problem of [{ seqQ: 1024, causal: false }, { seqQ: 4096, causal: false }, undefined]) {
      expect(chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 64, {}, problem)).toEqual(long);
    }
    for (const seqQ of [1, 1024, 2048]) {
      expect(chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 64, {}, { seqQ, causal: true })).toMatchObject({ blockM: 64, rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 4 });
    }
    expect(chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 64, {}, { seqQ: 2049, causal: true }).workgroupSize).toBe(512);
    // 32-key blocks: 256 threads × 2 rows, 16 channels per P·V step, for every problem.
    for (const problem of [{ seqQ: 1024, causal: true }, { seqQ: 4096, causal: false }]) {
      expect(chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 32, {}, problem)).toMatchObject({ blockM: 64, blockN: 32, workgroupSize: 256, pvChannelTile: 16 });
    }
  });

  it('falls back to the device: fewer invocations clamp the workgroup, software adapters take 1 row per thread', () => {
    expect(chooseAttentionSchedule('int8', 128, WEBGPU_DEFAULTS, 64, {}, { seqQ: 4096, causal: false })).toMatchObject({ workgroupSize: 256 });
    expect(chooseAttentionSchedule('int8', 128, LAVAPIPE, 64, {}, { seqQ: 4096, causal: false })).toMatchObject({ rowsPerThread: 1, workgroupSize: 512, blockN: 64 });
  });

  it('lets callers pin schedule fields, keys the pipeline cache by each, and keeps the pre-sweep schedule reachable', () => {
    const before = chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 32, { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 1, heavyTilesFirst: false });
    expect(before).toMatchObject({ blockM: 64, blockN: 32, rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 1 });
    const variants = [
      before,
      chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 32, { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 4 }),
      chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 32, { rowsPerThread: 4, workgroupSize: 128, pvChannelTile: 1, heavyTilesFirst: true }),
      chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 32, { rowsPerThread: 4, workgroupSize: 256, pvChannelTile: 1 }),
    ];
    expect(new Set(variants.map((s) => s.key)).size).toBe(variants.length);
    // 512 threads × 2 rows at blockN 64 needs 46.8 KiB: fits 48 KiB, so the override is honoured.
    expect(chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 64, { workgroupSize: 512 })).toMatchObject({ blockM: 128, workgroupSize: 512 });
    // Too many invocations for the device: clamped to its limit.
    expect(chooseAttentionSchedule('int8', 64, WEBGPU_DEFAULTS, 32, { workgroupSize: 512 }).workgroupSize).toBeLessThanOrEqual(256);
  });

  it('shrinks the P·V channel tile to a divisor of the channels per thread', () => {
    // headDim 48: 8 threads per row × 6 channels; a tile of 4 does not divide 6.
    expect(chooseAttentionSchedule('int8', 48, NVIDIA_VULKAN, 32, { pvChannelTile: 4 }).pvChannelTile).toBe(2);
    expect(chooseAttentionSchedule('int8', 160, NVIDIA_VULKAN, 32, { pvChannelTile: 4 })).toMatchObject({ threadsPerRow: 16, channelsPerThread: 10, pvChannelTile: 2 });
    for (let headDim = 32; headDim <= 256; headDim += 16) {
      const s = chooseAttentionSchedule('int8', headDim, NVIDIA_VULKAN);
      expect(s.channelsPerThread % s.pvChannelTile).toBe(0);
    }
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
          expect(s.channelsPerThread % s.pvChannelTile).toBe(0);
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
    // The f32 baseline keeps the schedule it was measured with (the int8 preferences do not apply to it).
    expect(f32).toMatchObject({ blockM: 32, blockN: 16, rowsPerThread: 2, workgroupSize: 128, pvChannelTile: 1, heavyTilesFirst: false });
    expect(chooseAttentionSchedule('f32', 128, NVIDIA_VULKAN, undefined, {}, { seqQ: 4096, causal: true })).toEqual(f32);
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
    const problem = { seqQ: 1024, causal: true };
    expect(chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 64, {}, problem)).toEqual(chooseAttentionSchedule('int8', 128, NVIDIA_VULKAN, 64, {}, { ...problem }));
    expect(int8Preferences(problem, 64)).toEqual(int8Preferences({ ...problem }, 64));
  });

  it('throws ERR_QATTN_UNSUPPORTED when no tile fits the workgroup memory', () => {
    expect(() => chooseAttentionSchedule('int8', 256, { maxComputeWorkgroupStorageSize: 4096, maxComputeInvocationsPerWorkgroup: 256 })).toThrow(
      expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' }),
    );
  });
});
