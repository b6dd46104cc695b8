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

describe('createKVCache backends', () => {
  it('creates a cpu cache, and auto falls back to it', async () => {
    expect((await createKVCache({ ...shape, backend: 'cpu' })).backend).toBe('cpu');
    expect((await createKVCache(shape)).backend).toBe('cpu');
  });

  it.each(['webgpu', 'cuda'] as const)('reports %s as not implemented yet (ERR_QATTN_BACKEND_UNAVAILABLE)', async (backend) => {
    let caught: unknown;
    await createKVCache({ ...shape, backend }).catch((err: unknown) => {
      caught = err;
    });
    expect(isQattnError(caught, 'ERR_QATTN_BACKEND_UNAVAILABLE')).toBe(true);
    expect((caught as Error).message).toContain('not implemented yet');
    const status = await kvCacheBackends();
    expect(status.find((s) => s.name === backend)).toMatchObject({ available: false });
    expect(status.find((s) => s.name === 'cpu')).toMatchObject({ available: true });
  });
});
