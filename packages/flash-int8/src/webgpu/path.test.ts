import { resolveShape } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { resolveFlashInt8Options } from '../options.js';
import type { FlashInt8Options } from '../options.js';
import { createWebGpuBackend } from './backend.js';
import { flashInt8WebGpuRequest } from './path.js';
import { gpuForTests } from './webgpu-test-env.js';

const { context } = await gpuForTests();

const shape = resolveShape({ batch: 1, heads: 2, seqQ: 40, seqKV: 40, headDim: 64 });
const callOf = (options: FlashInt8Options = {}) => ({ shape, scale: 0.125, causal: false, options: resolveFlashInt8Options(options) });

// CI's adapter (lavapipe) has no subgroup matrices: the selection falls back, and says why only when it was asked for.
describe.skipIf(!context || context.capabilities.subgroupMatrix)('the path flash-int8 webgpu reports on an adapter without subgroup matrices', () => {
  const dot4 = context?.capabilities.packedDot4 ? 'dot4' : 'int32';

  it('runs the dot4 kernel, unchanged, when the subgroup-matrix kernel is not requested', async () => {
    expect(await (await createWebGpuBackend()).path(callOf())).toEqual({ path: dot4 });
    const { request } = flashInt8WebGpuRequest(context!, callOf());
    expect(request.attentionKernel).toBeUndefined();
    expect(await (await createWebGpuBackend({ forcePlainIntegerDot: true })).path(callOf())).toEqual({ path: 'int32' });
    expect(await (await createWebGpuBackend()).path(callOf({ pv: 'fp16' }))).toEqual({ path: `${dot4} · f16 P·V` });
  });

  it('falls back with the reason when it is requested, and reports the path with the benchmark', async () => {
    const backend = await createWebGpuBackend({ subgroupMatrix: true });
    expect(await backend.path(callOf())).toEqual({ path: dot4, pathNote: expect.stringMatching(/lacks chromium-experimental-subgroup-matrix/) });
    const result = await backend.benchmark(shape, 0.125, false, resolveFlashInt8Options({}), { warmup: 0, repeats: 1 });
    expect(result).toMatchObject({ backend: 'webgpu', path: dot4, pathNote: expect.stringMatching(/lacks chromium-experimental-subgroup-matrix/) });
    expect(flashInt8WebGpuRequest(context!, callOf(), { subgroupMatrix: true }).request.attentionKernel).toBeUndefined();
  });
});
