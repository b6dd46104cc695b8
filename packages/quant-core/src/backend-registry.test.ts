import { describe, expect, it } from 'vitest';
import { BackendRegistry } from './backend-registry.js';
import { isQattnError, QattnError } from './errors.js';

describe('BackendRegistry', () => {
  it('auto picks the highest priority backend that loads, and reports every failure when none does', async () => {
    const registry = new BackendRegistry<string>('@qattn/test');
    registry.register('cpu', async () => 'cpu-impl', 0);
    registry.register('cuda', async () => {
      throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', 'no CUDA device');
    }, 20);
    registry.register('webgpu', async () => 'webgpu-impl', 10);
    expect(await registry.resolve('auto')).toEqual({ name: 'webgpu', backend: 'webgpu-impl' });
    expect((await registry.status()).map((s) => [s.name, s.available])).toEqual([
      ['cuda', false],
      ['webgpu', true],
      ['cpu', true],
    ]);
    const none = new BackendRegistry<string>('@qattn/test');
    none.register('cuda', async () => {
      throw new Error('driver missing');
    }, 1);
    await expect(none.resolve('auto')).rejects.toSatisfy((err: unknown) => isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE') && /driver missing/.test((err as Error).message));
  });

  it("lets 'auto' pass over a loaded backend that asks to be skipped, and never a backend asked for by name", async () => {
    const registry = new BackendRegistry<{ software: boolean }>('@qattn/test');
    registry.register('cpu', async () => ({ software: false }), 10);
    registry.register('webgpu', async () => ({ software: true }), 20, { skipInAuto: (b) => (b.software ? 'a software adapter' : undefined) });
    expect((await registry.resolve('auto')).name).toBe('cpu');
    expect((await registry.resolve('webgpu')).name).toBe('webgpu');
    const only = new BackendRegistry<{ software: boolean }>('@qattn/test');
    only.register('webgpu', async () => ({ software: true }), 20, { skipInAuto: () => 'a software adapter' });
    await expect(only.resolve('auto')).rejects.toSatisfy((err: unknown) => isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE') && /software adapter/.test((err as Error).message));
  });

  it('retries a failed load on the next call and caches a successful one', async () => {
    let attempts = 0;
    const registry = new BackendRegistry<number>('@qattn/test');
    registry.register('webgpu', async () => {
      attempts++;
      if (attempts === 1) throw new Error('device lost');
      return attempts;
    }, 1);
    await expect(registry.resolve('webgpu')).rejects.toThrow(/device lost/);
    expect((await registry.resolve('webgpu')).backend).toBe(2);
    expect((await registry.resolve('webgpu')).backend).toBe(2);
    registry.invalidate('webgpu');
    expect((await registry.resolve('webgpu')).backend).toBe(3);
  });

  it('rejects a backend the package does not have', async () => {
    const registry = new BackendRegistry<number>('@qattn/test');
    await expect(registry.resolve('cuda')).rejects.toSatisfy((err: unknown) => isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE'));
  });
});
