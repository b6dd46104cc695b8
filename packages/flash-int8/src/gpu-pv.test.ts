import { isQattnError, resolveShape } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { assertCudaSupports, flashInt8KernelFlags } from './cuda/backend.js';
import { resolveFlashInt8Options } from './options.js';
import { flashInt8PlanRequest, flashInt8Variant } from './webgpu/variant.js';

// pv 'fp8' is the CPU oracle's only: both GPU backends must refuse it before they build a kernel variant, on any
// machine (these mappings are pure; the GPU suites check the same through flashInt8Attention on a device).
describe("GPU backends reject pv 'fp8'", () => {
  const fp8 = resolveFlashInt8Options({ pv: 'fp8' }, 128);
  const shape = resolveShape({ batch: 1, heads: 2, seqQ: 64, seqKV: 64, headDim: 128 });

  function errorOf(fn: () => unknown): Error {
    try {
      fn();
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected a throw');
  }

  it.each([
    ['cuda: assertCudaSupports', () => assertCudaSupports(shape, fp8, { entry: 'flash-int8', headDims: [64, 128], keyBlocks: [32, 64] }), 'cuda'],
    ['cuda: flashInt8KernelFlags', () => flashInt8KernelFlags(fp8), 'cuda'],
    ['webgpu: flashInt8Variant', () => flashInt8Variant(fp8), 'webgpu'],
    ['webgpu: flashInt8PlanRequest', () => flashInt8PlanRequest({ shape, scale: 0.1, causal: false, options: fp8 }), 'webgpu'],
  ] as const)('%s throws ERR_QATTN_UNSUPPORTED saying CPU-only', (_name, fn, backend) => {
    const err = errorOf(fn);
    expect(isQattnError(err, 'ERR_QATTN_UNSUPPORTED'), String(err)).toBe(true);
    expect(err.message).toContain("pv 'fp8' is CPU-only");
    expect(err.message).toContain(backend);
  });

  it('still maps int8 and fp16 as before', () => {
    expect(flashInt8KernelFlags(resolveFlashInt8Options({ pv: 'fp16' }, 128))).toMatchObject({ variant: { pv: 'fp16' }, keyBlock: 64 });
    expect(flashInt8Variant(resolveFlashInt8Options({ pv: 'int8' }, 128)).pv).toBe('int8');
  });
});
