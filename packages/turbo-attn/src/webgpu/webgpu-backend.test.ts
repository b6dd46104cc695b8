import { type AttentionShape, isQattnError, resolveShape } from '@qattn/quant-core';
import { attention, compare, generateInputs } from '@qattn/reference';
import { acquireGpu, quantizedAttentionOnArrays, WebGpuTensor } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { resolveTurboOptions, turboAttention, turboAttentionWebGpu, turboAttentionWithStats, turboBenchmark, type TurboOptions } from '../index.js';
import { turboPlanRequest } from './variant.js';
import { createWebGpuBackend } from './backend.js';
import { gpu, ORACLE_AGREEMENT, oracleAgreement, SAS_PRECISIONS } from './webgpu-test-env.js';

/** The accuracy bars of turbo-attn's CPU tests (accuracy.test.ts): LLM-like 3%, sharp (q × 3) 4.5%, U[0,1) 0.2%. */
const DATA = [
  { name: 'LLM-like', kind: 'llm', sharpness: 1, bar: 0.03 },
  { name: 'sharp LLM-like', kind: 'llm', sharpness: 3, bar: 0.045 },
  { name: 'U[0,1)', kind: 'uniform', sharpness: 1, bar: 0.002 },
] as const;

const SHAPES: Array<{ name: string; shape: AttentionShape; causal: boolean }> = [
  { name: 'hd64', shape: { batch: 1, heads: 4, seqQ: 256, seqKV: 256, headDim: 64 }, causal: false },
  { name: 'hd64 causal', shape: { batch: 1, heads: 4, seqQ: 300, seqKV: 300, headDim: 64 }, causal: true },
  { name: 'hd128 causal seqQ<seqKV', shape: { batch: 1, heads: 4, seqQ: 128, seqKV: 384, headDim: 128 }, causal: true },
  { name: 'hd128 seqQ>seqKV', shape: { batch: 1, heads: 4, seqQ: 200, seqKV: 120, headDim: 128 }, causal: false },
  { name: 'GQA 4:1 hd128 causal', shape: { batch: 1, heads: 8, kvHeads: 2, seqQ: 160, seqKV: 320, headDim: 128 }, causal: true },
  { name: 'GQA 4:1 hd64, batch 2', shape: { batch: 2, heads: 4, kvHeads: 1, seqQ: 96, seqKV: 256, headDim: 64 }, causal: false },
];

const gqaCausal: AttentionShape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 37, seqKV: 130, headDim: 64 };

function run(shape: AttentionShape, options: TurboOptions, data = generateInputs(shape, { kind: 'llm', seed: 11 })) {
  return turboAttention(data.q, data.k, data.v, shape, options);
}

describe.skipIf(!gpu)('turbo-attn webgpu backend', () => {
  for (const precision of SAS_PRECISIONS) {
    it(`matches the CPU oracle for every lever, SAS in ${precision} (relative L2 ≤ ${oracleAgreement({}, precision)}; ${ORACLE_AGREEMENT} for exp2)`, async () => {
      const levers: TurboOptions[] = [
        {},
        { sas: false },
        { sasThreshold: 6 },
        { vGranularity: 'block' },
        { pScale: 'global' },
        { smoothK: false, smoothV: false },
        { blockM: 32, blockN: 32 },
        { blockM: 16 },
      ];
      const data = generateInputs(gqaCausal, { kind: 'llm', seed: 4, sharpness: 2 });
      const backend = await createWebGpuBackend({ sasPrecision: precision });
      for (const lever of levers) {
        const options = resolveTurboOptions({ ...lever, causal: true });
        const out = await backend.run({ ...data, shape: resolveShape(gqaCausal), scale: 1 / Math.sqrt(gqaCausal.headDim), causal: true, options });
        const oracle = await run(gqaCausal, { ...lever, causal: true, backend: 'cpu' }, data);
        expect(compare(out, oracle).relL2, JSON.stringify(lever)).toBeLessThanOrEqual(oracleAgreement(options, precision));
      }
    });
  }

  describe('meets the CPU backend accuracy bars (defaults: SAS on)', () => {
    for (const data of DATA) {
      for (const { name, shape, causal } of SHAPES) {
        it(`${data.name}, ${name}: relative L2 ≤ ${(data.bar * 100).toFixed(1)}%`, async () => {
          const { q, k, v } = generateInputs(shape, { kind: data.kind, seed: 21, sharpness: data.sharpness });
          const out = await turboAttention(q, k, v, shape, { causal, backend: 'webgpu' });
          const error = compare(out, attention(q, k, v, shape, { causal })).relL2;
          expect(error).toBeLessThanOrEqual(data.bar);
          // INT8 everywhere must leave a visible error: a kernel that quantizes nothing would pass any bar.
          expect(error).toBeGreaterThan(data.kind === 'uniform' ? 1e-5 : 1e-3);
        });
      }
    }
  });

  it('SAS differs from exact exp2 on the device, and costs as little as on the CPU (within 0.3 points)', async () => {
    const { shape, causal } = SHAPES[4];
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 21 });
    const expected = attention(q, k, v, shape, { causal });
    const sas = await turboAttention(q, k, v, shape, { causal, backend: 'webgpu' });
    const exact = await turboAttention(q, k, v, shape, { causal, backend: 'webgpu', sas: false });
    expect(compare(sas, exact).relL2).toBeGreaterThan(1e-6);
    expect(Math.abs(compare(sas, expected).relL2 - compare(exact, expected).relL2)).toBeLessThan(0.003);
    // Each agrees with its own CPU oracle: the device evaluates the same SAS polynomial, not an exp2 in disguise.
    expect(compare(sas, await turboAttention(q, k, v, shape, { causal, backend: 'cpu' })).relL2).toBeLessThanOrEqual(oracleAgreement({}));
    expect(compare(exact, await turboAttention(q, k, v, shape, { causal, backend: 'cpu', sas: false })).relL2).toBeLessThanOrEqual(ORACLE_AGREEMENT);
  });

  it('skips all-zero tiles exactly: a sharp softmax with a small threshold gives bit-identical output without the skip', async () => {
    // Sharp heads (q × 6) and T = 2: behind the sink most key tiles lie entirely below the row max − T.
    const shape = resolveShape({ batch: 1, heads: 4, seqQ: 256, seqKV: 512, headDim: 64 });
    const data = generateInputs(shape, { kind: 'llm', seed: 9, sharpness: 6 });
    const options = resolveTurboOptions({ sasThreshold: 2 });
    const { out: oracle, stats } = await turboAttentionWithStats(data.q, data.k, data.v, shape, { sasThreshold: 2 });
    // The oracle, on the 64 × 64 tiles the kernel uses on lavapipe, skips 21 of 128 tiles on this input.
    expect(stats.skippedSparse).toBeGreaterThan(stats.tiles / 10);
    const context = await acquireGpu();
    for (const sasPrecision of SAS_PRECISIONS) {
      const request = turboPlanRequest({ shape, scale: 1 / Math.sqrt(shape.headDim), causal: false, options }, { sasPrecision });
      expect(request.variant.skipSparseTiles).toBe(true);
      const skipping = await quantizedAttentionOnArrays('test', context, request, data);
      const dense = await quantizedAttentionOnArrays('test', context, { ...request, variant: { ...request.variant, skipSparseTiles: false } }, data);
      expect(Array.from(skipping), sasPrecision).toEqual(Array.from(dense));
      expect(compare(skipping, oracle).relL2, sasPrecision).toBeLessThanOrEqual(oracleAgreement(options, sasPrecision));
    }
  });

  it('runs on device-resident tensors, leaves them intact, and can write float16', async () => {
    const context = await acquireGpu();
    const shape = resolveShape(gqaCausal);
    const data = generateInputs(gqaCausal, { kind: 'llm', seed: 11 });
    const q = WebGpuTensor.fromArray(context, data.q, [1, 4, 37, 64]);
    const k = WebGpuTensor.fromArray(context, data.k, [1, 2, 130, 64]);
    const v = WebGpuTensor.fromArray(context, data.v, [1, 2, 130, 64]);
    const out32 = await turboAttentionWebGpu(q, k, v, shape, { causal: true });
    expect(out32.location).toBe('webgpu');
    const typed = await run(gqaCausal, { causal: true, backend: 'webgpu' }, data);
    expect(Array.from(await out32.toArray())).toEqual(Array.from(typed));
    expect(Array.from(await q.toArray())).toEqual(Array.from(data.q));
    if (context.capabilities.shaderF16) {
      const out16 = await turboAttentionWebGpu(q, k, v, shape, { causal: true }, { outputDType: 'float16' });
      expect(out16.dtype).toBe('float16');
      // f16 output rounding alone: relative error ≤ 2^-11 per element.
      expect(compare(await out16.toArray(), typed).relL2).toBeLessThanOrEqual(2 ** -11);
      out16.dispose();
    }
    await expect(turboAttentionWebGpu(q, k, v, shape, { backend: 'cpu' })).rejects.toMatchObject({ code: 'ERR_QATTN_OPTION' });
    await expect(turboAttentionWebGpu(q, q, v, shape)).rejects.toMatchObject({ code: 'ERR_QATTN_SHAPE' });
    for (const tensor of [q, k, v, out32]) tensor.dispose();
    await expect(turboAttentionWebGpu(q, k, v, shape)).rejects.toMatchObject({ code: 'ERR_QATTN_DISPOSED' });
  });

  it('rejects what the kernels lack with ERR_QATTN_UNSUPPORTED', async () => {
    for (const headDim of [16, 40, 272]) {
      const shape = { batch: 1, heads: 1, seqQ: 4, seqKV: 4, headDim };
      const data = generateInputs(shape, { kind: 'uniform', seed: 1 });
      const err = await turboAttention(data.q, data.k, data.v, shape, { backend: 'webgpu' }).catch((e: unknown) => e);
      expect(isQattnError(err, 'ERR_QATTN_UNSUPPORTED') && /headDim/.test((err as Error).message), String(err)).toBe(true);
    }
    // FlashQ's V scales per blockN keys must cover whole kernel key tiles.
    const ok = { batch: 1, heads: 1, seqQ: 4, seqKV: 4, headDim: 32 };
    const okData = generateInputs(ok, { kind: 'uniform', seed: 1 });
    await expect(turboAttention(okData.q, okData.k, okData.v, ok, { backend: 'webgpu', blockN: 24 })).rejects.toMatchObject({
      code: 'ERR_QATTN_UNSUPPORTED',
    });
  });

  it('benchmarks with the contract fields', async () => {
    const result = await turboBenchmark({ batch: 1, heads: 2, seqQ: 64, seqKV: 64, headDim: 64 }, { backend: 'webgpu', causal: true }, { warmup: 1, repeats: 3 });
    expect(result).toMatchObject({ backend: 'webgpu' });
    expect(result.samplesMs).toHaveLength(3);
    expect(result.medianMs).toBeGreaterThan(0);
    expect(result.peakDeviceBytes).toBeGreaterThan(0);
    expect(['timestamp-query', 'host']).toContain(result.timer);
    if (result.timer === 'timestamp-query') {
      expect(result.quantMs).toBeGreaterThan(0);
      expect(result.attnMs).toBeGreaterThan(0);
    }
  });

  // Last in the file: it destroys the shared device.
  it('turns a lost device into ERR_QATTN_DEVICE and recovers with a new device on the next call', async () => {
    const context = await acquireGpu();
    const shape = resolveShape({ batch: 1, heads: 1, seqQ: 8, seqKV: 8, headDim: 32 });
    const data = generateInputs(shape, { kind: 'uniform', seed: 2 });
    const q = WebGpuTensor.fromArray(context, data.q, [1, 1, 8, 32]);
    const k = WebGpuTensor.fromArray(context, data.k, [1, 1, 8, 32]);
    context.device.destroy();
    await context.device.lost;
    const lost = await turboAttentionWebGpu(q, k, k, shape).catch((err: unknown) => err);
    expect(isQattnError(lost, 'ERR_QATTN_DEVICE')).toBe(true);
    const recovered = await turboAttention(data.q, data.k, data.v, shape, { backend: 'webgpu' });
    const oracle = await turboAttention(data.q, data.k, data.v, shape, { backend: 'cpu' });
    expect(compare(recovered, oracle).relL2).toBeLessThanOrEqual(oracleAgreement({}));
    expect(await acquireGpu()).not.toBe(context);
  });
});
