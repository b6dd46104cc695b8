import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { createKVCache, kvCacheBackends, resolveKVCacheOptions } from './index.js';
import { expectCode } from './test-helpers.js';

const shape = { batch: 2, kvHeads: 4, headDim: 64 };

describe('resolveKVCacheOptions', () => {
  it('fills in the measured defaults', () => {
    expect(resolveKVCacheOptions(shape)).toEqual({
      ...shape,
      backend: 'auto',
      bits: 4,
      lowBitFraction: { k: 0, v: 0 },
      pageSize: 64,
      sinkTokens: 4,
      hadamard: true,
      capacity: null,
    });
    // No power-of-two head dimension, no Hadamard rotation.
    expect(resolveKVCacheOptions({ ...shape, headDim: 96 }).hadamard).toBe(false);
    expect(resolveKVCacheOptions({ ...shape, lowBitFraction: 0.5 }).lowBitFraction).toEqual({ k: 0.5, v: 0.5 });
    expect(resolveKVCacheOptions({ ...shape, lowBitFraction: { k: 0, v: 0.75 } }).lowBitFraction).toEqual({ k: 0, v: 0.75 });
  });

  it('rejects a bad shape with ERR_QATTN_SHAPE naming the dimension', () => {
    expectCode(() => resolveKVCacheOptions({ ...shape, batch: 0 }), 'ERR_QATTN_SHAPE', 'batch');
    expectCode(() => resolveKVCacheOptions({ ...shape, kvHeads: 1.5 }), 'ERR_QATTN_SHAPE', 'kvHeads');
    expectCode(() => resolveKVCacheOptions({ ...shape, headDim: '64' as never }), 'ERR_QATTN_SHAPE', 'headDim');
    expectCode(() => resolveKVCacheOptions(null as never), 'ERR_QATTN_SHAPE');
  });

  it.each([
    [{ pageSize: 24 }, 'pageSize'],
    [{ pageSize: 8 }, 'pageSize'],
    [{ sinkTokens: -1 }, 'sinkTokens'],
    [{ bits: 2 }, 'bits'],
    [{ lowBitFraction: 1.5 }, 'lowBitFraction'],
    [{ lowBitFraction: { k: 0, v: Number.NaN } }, 'lowBitFraction.v'],
    [{ bits: 8, lowBitFraction: 0.5 }, 'lowBitFraction'],
    [{ hadamard: 'yes' }, 'hadamard'],
    [{ capacity: 0 }, 'capacity'],
    [{ capacity: 10.5 }, 'capacity'],
    [{ backend: 'metal' }, 'backend'],
    [{ blockSize: 64 }, 'blockSize'],
  ])('rejects %o with ERR_QATTN_OPTION', (options, mentions) => {
    expectCode(() => resolveKVCacheOptions({ ...shape, ...(options as object) }), 'ERR_QATTN_OPTION', mentions);
  });

  it('rejects hadamard: true for a head dimension that is not a power of two', () => {
    expectCode(() => resolveKVCacheOptions({ ...shape, headDim: 96, hadamard: true }), 'ERR_QATTN_OPTION', 'power-of-two');
  });
});

/** Whether the shared WebGPU device runs on a software adapter (where 'auto' passes the webgpu cache over). */
async function webGpuIsSoftware(): Promise<boolean> {
  const { acquireGpu } = await import('@qattn/webgpu-runtime');
  return (await acquireGpu()).software;
}

describe('createKVCache backends', () => {
  const expectCuda = process.env.QATTN_EXPECT_CUDA === '1';

  it('creates a cpu cache; auto picks cuda where a device is, else webgpu on a hardware adapter, else cpu', async () => {
    const cpu = await createKVCache({ ...shape, backend: 'cpu' });
    expect(cpu.backend).toBe('cpu');
    const status = await kvCacheBackends();
    expect(status.map((s) => s.name)).toEqual(['cuda', 'webgpu', 'cpu']);
    const hardwareWebGpu = status.find((s) => s.name === 'webgpu')?.available === true && !(await webGpuIsSoftware());
    const auto = await createKVCache(shape);
    expect(auto.backend).toBe(expectCuda ? 'cuda' : hardwareWebGpu ? 'webgpu' : 'cpu');
    auto.dispose();
    expect(status.find((s) => s.name === 'cpu')).toMatchObject({ available: true });
  });

  it.skipIf(expectCuda)('reports cuda unavailable without a device, with the reason (ERR_QATTN_BACKEND_UNAVAILABLE)', async () => {
    let caught: unknown;
    await createKVCache({ ...shape, backend: 'cuda' }).catch((err: unknown) => {
      caught = err;
    });
    expect(isQattnError(caught, 'ERR_QATTN_BACKEND_UNAVAILABLE')).toBe(true);
    const reason = (await kvCacheBackends()).find((s) => s.name === 'cuda');
    expect(reason).toMatchObject({ available: false });
    // Either the addon is built and finds no device, or it is not built and the message names the build command.
    expect(reason?.reason).toMatch(/no CUDA device|qattn-build-cuda/);
  });
});
