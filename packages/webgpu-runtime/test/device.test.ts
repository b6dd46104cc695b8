import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { acquireGpu, BufferUsage, gpuForTests, releaseGpu, WebGpuTensor, withDeviceErrors } from '../src/index.js';

const { context: initial } = await gpuForTests();

describe.skipIf(!initial)('webgpu-runtime on a real adapter', () => {
  it('reports capabilities and the adapter limits it requested', async () => {
    const context = await acquireGpu();
    expect(context.owned).toBe(true);
    expect(typeof context.capabilities.packedDot4).toBe('boolean');
    expect(context.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    expect(context.device.limits.maxComputeWorkgroupStorageSize).toBe(context.limits.maxComputeWorkgroupStorageSize);
    expect(await acquireGpu()).toBe(context);
  });

  it('round-trips float32 tensors; dispose is idempotent and later use throws ERR_QATTN_DISPOSED', async () => {
    const context = await acquireGpu();
    const data = Float32Array.from({ length: 7 }, (_, i) => i * 0.5 - 1);
    const tensor = WebGpuTensor.fromArray(context, data, [7]);
    expect(tensor.location).toBe('webgpu');
    expect(Array.from(await tensor.toArray())).toEqual(Array.from(data));
    tensor.dispose();
    tensor.dispose();
    expect(tensor.disposed).toBe(true);
    await expect(tensor.toArray()).rejects.toMatchObject({ code: 'ERR_QATTN_DISPOSED' });
  });

  it('turns device errors into ERR_QATTN_DEVICE naming the operation', async () => {
    const context = await acquireGpu();
    const tooLarge = context.limits.maxBufferSize + 4;
    await expect(
      withDeviceErrors(context, 'allocate', () => {
        context.device.createBuffer({ size: tooLarge, usage: BufferUsage.STORAGE });
      }),
    ).rejects.toSatisfy((err: unknown) => isQattnError(err, 'ERR_QATTN_DEVICE') && /allocate/.test((err as Error).message));
  });

  it('a lost device fails with ERR_QATTN_DEVICE and the next acquire recovers with a new device', async () => {
    const context = await acquireGpu();
    const tensor = WebGpuTensor.fromArray(context, new Float32Array([1, 2, 3, 4]), [4]);
    context.device.destroy();
    await context.device.lost;
    await expect(tensor.toArray()).rejects.toMatchObject({ code: 'ERR_QATTN_DEVICE' });
    const fresh = await acquireGpu();
    expect(fresh).not.toBe(context);
    const again = WebGpuTensor.fromArray(fresh, new Float32Array([5, 6]), [2]);
    expect(Array.from(await again.toArray())).toEqual([5, 6]);
    again.dispose();
  });

  it('wraps a caller device without taking ownership', async () => {
    const ours = await acquireGpu();
    const wrapped = await acquireGpu({ device: ours.device });
    expect(wrapped.owned).toBe(false);
    expect(wrapped.source).toBe('caller');
    expect(wrapped.capabilities.packedDot4).toBe(ours.capabilities.packedDot4);
    await releaseGpu();
    await ours.device.lost;
    expect(wrapped.lostReason).toBeDefined();
  });
});
