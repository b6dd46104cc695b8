import { type AttentionShape, isQattnError, resolveShape } from '@qattn/quant-core';
import { attention, compare, generateInputs } from '@qattn/reference';
import { acquireGpu, WebGpuTensor } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { type FlashInt8Options, flashInt8Attention, resolveFlashInt8Options } from '../index.js';
import { createWebGpuBackend } from './backend.js';
import { flashAttentionFloatBenchmark, flashAttentionFloatWebGpu, flashInt8AttentionWebGpu } from './index.js';
import { gpuForTests } from './webgpu-test-env.js';

const { context } = await gpuForTests();

const gqaCausal: AttentionShape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 37, seqKV: 70, headDim: 64 };

function inputs(shape: AttentionShape, seed = 11) {
  return generateInputs(shape, { kind: 'llm', seed });
}

function callOf(shape: AttentionShape, options: FlashInt8Options, data = inputs(shape)) {
  const resolved = resolveShape(shape);
  return { ...data, shape: resolved, scale: 1 / Math.sqrt(resolved.headDim), causal: options.causal ?? false, options: resolveFlashInt8Options(options) };
}

describe.skipIf(!context)('flash-int8 webgpu backend', () => {
  it('matches the CPU oracle for every accuracy lever (relative L2 ≤ 5e-4)', async () => {
    const levers: FlashInt8Options[] = [
      { pScale: 'global' },
      { pCodeMax: 127 },
      { pScale: 'global', pCodeMax: 127 },
      { vGranularity: 'head' },
      { vGranularity: 'channel', smoothV: true },
      { qkGranularity: 'block', smoothK: false },
      { pv: 'fp16', smoothV: true },
    ];
    const data = inputs(gqaCausal);
    for (const lever of levers) {
      const options = { ...lever, causal: true };
      const gpu = await flashInt8Attention(data.q, data.k, data.v, gqaCausal, { ...options, backend: 'webgpu' });
      const cpu = await flashInt8Attention(data.q, data.k, data.v, gqaCausal, { ...options, backend: 'cpu' });
      expect(compare(gpu, cpu).relL2, JSON.stringify(lever)).toBeLessThanOrEqual(5e-4);
    }
  });

  it('gives bit-identical results with plain integer math where dot4I8Packed is unavailable', async () => {
    const packed = await createWebGpuBackend();
    const plain = await createWebGpuBackend({ forcePlainIntegerDot: true });
    for (const [shape, options] of [
      [gqaCausal, { causal: true }],
      [{ batch: 1, heads: 2, seqQ: 20, seqKV: 45, headDim: 96 }, { pScale: 'global' }],
      [{ batch: 1, heads: 2, seqQ: 20, seqKV: 45, headDim: 96 }, { pCodeMax: 127 }],
    ] as Array<[AttentionShape, FlashInt8Options]>) {
      const call = callOf(shape, options);
      expect(Array.from(await plain.run(call))).toEqual(Array.from(await packed.run(call)));
    }
  });

  it('runs on device-resident tensors, leaves them intact, and can write float16', async () => {
    const gpu = await acquireGpu();
    const shape = resolveShape(gqaCausal);
    const data = inputs(gqaCausal);
    const q = WebGpuTensor.fromArray(gpu, data.q, [1, 4, 37, 64]);
    const k = WebGpuTensor.fromArray(gpu, data.k, [1, 2, 70, 64]);
    const v = WebGpuTensor.fromArray(gpu, data.v, [1, 2, 70, 64]);
    const out32 = await flashInt8AttentionWebGpu(q, k, v, shape, { causal: true });
    expect(out32.location).toBe('webgpu');
    const typed = await flashInt8Attention(data.q, data.k, data.v, gqaCausal, { causal: true, backend: 'webgpu' });
    expect(Array.from(await out32.toArray())).toEqual(Array.from(typed));
    expect(Array.from(await q.toArray())).toEqual(Array.from(data.q));
    if (gpu.capabilities.shaderF16) {
      const out16 = await flashInt8AttentionWebGpu(q, k, v, shape, { causal: true }, { outputDType: 'float16' });
      expect(out16.dtype).toBe('float16');
      // f16 output rounding alone: relative error ≤ 2^-11 per element.
      expect(compare(await out16.toArray(), typed).relL2).toBeLessThanOrEqual(2 ** -11);
      out16.dispose();
    }
    for (const tensor of [q, k, v, out32]) tensor.dispose();
    await expect(flashInt8AttentionWebGpu(q, k, v, shape)).rejects.toMatchObject({ code: 'ERR_QATTN_DISPOSED' });
  });

  it('rejects what the kernels lack with ERR_QATTN_UNSUPPORTED', async () => {
    const shape = { batch: 1, heads: 1, seqQ: 4, seqKV: 4, headDim: 40 };
    const data = generateInputs(shape, { kind: 'uniform', seed: 1 });
    await expect(flashInt8Attention(data.q, data.k, data.v, shape, { backend: 'webgpu' })).rejects.toMatchObject({ code: 'ERR_QATTN_UNSUPPORTED' });
    const ok = { batch: 1, heads: 1, seqQ: 4, seqKV: 4, headDim: 32 };
    const okData = generateInputs(ok, { kind: 'uniform', seed: 1 });
    await expect(flashInt8Attention(okData.q, okData.k, okData.v, ok, { backend: 'webgpu', hadamard: true })).rejects.toMatchObject({
      code: 'ERR_QATTN_UNSUPPORTED',
    });
    await expect(flashInt8Attention(okData.q, okData.k, okData.v, ok, { backend: 'webgpu', pv: 'fp8' })).rejects.toMatchObject({
      code: 'ERR_QATTN_UNSUPPORTED',
      message: expect.stringContaining('CPU-only'),
    });
    // blockChannel V scales must cover whole kernel key tiles.
    await expect(flashInt8Attention(okData.q, okData.k, okData.v, ok, { backend: 'webgpu', blockN: 24 })).rejects.toMatchObject({
      code: 'ERR_QATTN_UNSUPPORTED',
    });
  });

  it('f32 and f16 WGSL baselines compute exact attention within their precision', async () => {
    const gpu = await acquireGpu();
    const shape = { batch: 1, heads: 2, kvHeads: 1, seqQ: 33, seqKV: 50, headDim: 64 };
    const data = inputs(shape, 5);
    const expected = attention(data.q, data.k, data.v, shape, { causal: true });
    for (const [dtype, tolerance] of [
      ['float32', 1e-5],
      ['float16', 3e-3],
    ] as const) {
      if (dtype === 'float16' && !gpu.capabilities.shaderF16) continue;
      const tensors = [data.q, data.k, data.v].map((x, i) => WebGpuTensor.fromArray(gpu, x, i === 0 ? [1, 2, 33, 64] : [1, 1, 50, 64], dtype));
      const out = await flashAttentionFloatWebGpu(tensors[0], tensors[1], tensors[2], shape, { causal: true });
      expect(compare(await out.toArray(), expected).relL2, dtype).toBeLessThanOrEqual(tolerance);
      for (const tensor of [...tensors, out]) tensor.dispose();
    }
  });

  it('benchmarks with the contract fields', async () => {
    const backend = await createWebGpuBackend();
    const shape = { batch: 1, heads: 2, seqQ: 64, seqKV: 64, headDim: 64 };
    const result = await backend.benchmark(resolveShape(shape), 0.125, true, resolveFlashInt8Options({ causal: true }), { warmup: 1, repeats: 3 });
    expect(result).toMatchObject({ backend: 'webgpu' });
    expect(result.samplesMs).toHaveLength(3);
    expect(result.medianMs).toBeGreaterThan(0);
    expect(['timestamp-query', 'host']).toContain(result.timer);
    if (result.timer === 'timestamp-query') {
      expect(result.quantMs).toBeGreaterThan(0);
      expect(result.attnMs).toBeGreaterThan(0);
      expect(result.attnMs).toBeLessThanOrEqual(Math.max(...result.samplesMs));
    }
    console.info('benchmark samples (ms):', result.samplesMs, 'quant', result.quantMs, 'attn', result.attnMs);
    const baseline = await flashAttentionFloatBenchmark(shape, { causal: true }, { warmup: 1, repeats: 2 });
    expect(baseline.samplesMs).toHaveLength(2);
  });

  // Last in the file: it destroys the shared device.
  it('turns a lost device into ERR_QATTN_DEVICE and recovers with a new device on the next call', async () => {
    const gpu = await acquireGpu();
    const shape = resolveShape({ batch: 1, heads: 1, seqQ: 8, seqKV: 8, headDim: 32 });
    const data = generateInputs(shape, { kind: 'uniform', seed: 2 });
    const q = WebGpuTensor.fromArray(gpu, data.q, [1, 1, 8, 32]);
    const k = WebGpuTensor.fromArray(gpu, data.k, [1, 1, 8, 32]);
    gpu.device.destroy();
    await gpu.device.lost;
    const lost = await flashInt8AttentionWebGpu(q, k, k, shape).catch((err: unknown) => err);
    expect(isQattnError(lost, 'ERR_QATTN_DEVICE')).toBe(true);
    const recovered = await flashInt8Attention(data.q, data.k, data.v, shape, { backend: 'webgpu' });
    const oracle = await flashInt8Attention(data.q, data.k, data.v, shape, { backend: 'cpu' });
    expect(compare(recovered, oracle).relL2).toBeLessThanOrEqual(5e-4);
    expect(await acquireGpu()).not.toBe(gpu);
  });
});
