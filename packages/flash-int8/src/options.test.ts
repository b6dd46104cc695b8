import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { FLASH_INT8_OPTIONS, type FlashInt8Options, gpuPv, resolveFlashInt8Options } from './options.js';

function optionError(options: unknown): unknown {
  try {
    resolveFlashInt8Options(options as FlashInt8Options);
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('flash-int8 options', () => {
  it('fills every default from the table', () => {
    const resolved = resolveFlashInt8Options(undefined);
    for (const [key, spec] of Object.entries(FLASH_INT8_OPTIONS)) expect(resolved[key as keyof typeof resolved]).toBe(spec.default);
    expect(resolved).toMatchObject({ backend: 'auto', pv: 'int8', qkGranularity: 'token', smoothK: true, pScale: 'rowmax' });
  });

  it('defaults blockN to 64 up to headDim 128 and to 32 above, unless the caller sets it', () => {
    expect(resolveFlashInt8Options(undefined, 64).blockN).toBe(64);
    expect(resolveFlashInt8Options(undefined, 128).blockN).toBe(64);
    expect(resolveFlashInt8Options(undefined, 256).blockN).toBe(32);
    expect(resolveFlashInt8Options({ blockN: 64 }, 256).blockN).toBe(64);
    expect(resolveFlashInt8Options({ blockN: 16 }, 64).blockN).toBe(16);
  });

  it('keeps given values and does not modify the caller’s record', () => {
    const given = Object.freeze({ pv: 'fp16', blockN: 7, causal: true, scale: 0.1 } as const);
    expect(resolveFlashInt8Options(given)).toMatchObject({ pv: 'fp16', blockN: 7, causal: true, scale: 0.1 });
  });

  it.each([
    [{ pv: 'int4' }, 'pv'],
    [{ qkGranularity: 'channel' }, 'qkGranularity'],
    [{ smoothK: 'yes' }, 'smoothK'],
    [{ pScale: 'per-tensor' }, 'pScale'],
    [{ vGranularity: 'token' }, 'vGranularity'],
    [{ blockM: 0 }, 'blockM'],
    [{ blockN: 2.5 }, 'blockN'],
    [{ blockN: 4096 }, 'blockN'],
    [{ backend: 'wasm' }, 'backend'],
    [{ causal: 1 }, 'causal'],
    [{ hadamard: 1 }, 'hadamard'],
    [{ incoherent: true }, 'incoherent'],
  ])('rejects %j with ERR_QATTN_OPTION naming the option', (options, name) => {
    const err = optionError(options);
    expect(isQattnError(err, 'ERR_QATTN_OPTION')).toBe(true);
    expect((err as Error).message).toContain(name);
  });

  it("accepts pv 'fp8' (CPU oracle); gpuPv passes int8 and fp16 through and rejects fp8 with ERR_QATTN_UNSUPPORTED", () => {
    expect(resolveFlashInt8Options({ pv: 'fp8' }).pv).toBe('fp8');
    expect(gpuPv({ pv: 'int8' }, 'test', 'cuda')).toBe('int8');
    expect(gpuPv({ pv: 'fp16' }, 'test', 'webgpu')).toBe('fp16');
    let caught: unknown;
    try {
      gpuPv({ pv: 'fp8' }, '@qattn/flash-int8 cuda', 'cuda');
    } catch (err) {
      caught = err;
    }
    expect(isQattnError(caught, 'ERR_QATTN_UNSUPPORTED')).toBe(true);
    expect((caught as Error).message).toMatch(/@qattn\/flash-int8 cuda: pv 'fp8' is CPU-only/);
    expect((caught as { details?: unknown }).details).toMatchObject({ backend: 'cuda', option: 'pv' });
  });

  it('rejects a non-object options argument', () => {
    expect(isQattnError(optionError('fast'), 'ERR_QATTN_OPTION')).toBe(true);
  });
});
