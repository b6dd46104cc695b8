import { f16round } from '@petamoriken/float16';
import { isQattnError, resolveShape, SAS_DEFAULT_THRESHOLD, SAS_MAX_REL_ERROR, SAS_MAX_THRESHOLD, sasExp2 } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import {
  acquireGpu,
  type AttentionPlanRequest,
  attentionPlanKey,
  BufferUsage,
  cachedAttentionPlan,
  cachedAttentionPlanCount,
  cachedPipeline,
  checkQuantizedAttentionVariant,
  chooseSasPrecision,
  clearAttentionPlans,
  encodeDispatch,
  type ExponentName,
  exponentWgsl,
  type GpuContext,
  gpuForTests,
  int8AttentionKey,
  int8AttentionSource,
  PLAN_CACHE_CAPACITY,
  planQuantizedAttention,
  type QuantizedAttentionVariant,
  quantizedAttentionOnArrays,
  quantizedAttentionVariantKey,
  readBuffer,
  SAS_F32_MAX_REL_ERROR,
  type SasPrecision,
  WebGpuTensor,
} from '../src/index.js';

const { context: initial } = await gpuForTests();

/** INT-FlashAttention's defaults as a variant (flash-int8 maps its options to this). */
const PER_TOKEN: QuantizedAttentionVariant = {
  qRowsPerScale: 1,
  kRowsPerScale: 1,
  smoothK: true,
  pv: 'int8',
  vScale: { keysPerScale: 64, perChannel: true },
  smoothV: false,
  pCodeMax: 255,
  pScale: 'rowmax',
  exponent: 'exp2',
  sasThreshold: SAS_DEFAULT_THRESHOLD,
  skipSparseTiles: false,
  blockN: 64,
};

/** FlashQ + SAS's defaults as a variant (turbo-attn maps its options to this). */
const FLASHQ_SAS: QuantizedAttentionVariant = {
  ...PER_TOKEN,
  qRowsPerScale: 64,
  kRowsPerScale: 64,
  smoothV: true,
  pCodeMax: 127,
  exponent: 'sas',
  skipSparseTiles: true,
};

/** Every f in [0, 1) that fp16 represents (subnormals included), ascending. */
function fp16Fractions(): number[] {
  const out: number[] = [];
  for (let bits = 0; bits < 0x3c00; bits++) {
    const exponent = bits >> 10;
    const mantissa = bits & 1023;
    out.push(exponent === 0 ? mantissa * 2 ** -24 : (1 + mantissa / 1024) * 2 ** (exponent - 15));
  }
  return out;
}

/** Runs the injected `exponent2` of an exponent's WGSL on each element of `x` (f32) on the device. */
async function exponentOnDevice(context: GpuContext, name: ExponentName, threshold: number, precision: SasPrecision, x: Float32Array): Promise<Float32Array> {
  const { wgsl, key, needsF16 } = exponentWgsl(name, threshold, precision);
  const pipeline = cachedPipeline(context, `test/exponent:${key}`, () =>
    [
      needsF16 ? 'enable f16;' : '',
      wgsl,
      '@group(0) @binding(0) var<storage, read> x: array<f32>;',
      '@group(0) @binding(1) var<storage, read_write> y: array<f32>;',
      '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {',
      '  let i = id.y * 65535u * 64u + id.x;',
      '  if (i < arrayLength(&x)) { y[i] = exponent2(x[i]); }',
      '}',
    ].join('\n'),
  );
  const input = WebGpuTensor.fromArray(context, x, [x.length]);
  const output = context.device.createBuffer({ size: x.byteLength, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
  const encoder = context.device.createCommandEncoder();
  const groups = Math.ceil(x.length / 64);
  encodeDispatch(context, encoder, pipeline, [input.buffer, output], [Math.min(groups, 65535), Math.ceil(groups / 65535)]);
  context.device.queue.submit([encoder.finish()]);
  const result = new Float32Array(await readBuffer(context, output, x.byteLength));
  input.dispose();
  output.destroy();
  return result;
}

/** The `count` f32 values on each side of `center` (an f32 other than 0), in ascending order, `center` included. */
function f32Neighbours(center: number, count: number): number[] {
  const bits = new Uint32Array(Float32Array.of(center).buffer)[0];
  const word = new Uint32Array(1);
  const value = new Float32Array(word.buffer);
  const out: number[] = [];
  // Negative f32s grow in magnitude with their bit pattern: bits + k is the k-th value below center.
  for (let k = count; k >= -count; k--) {
    word[0] = center < 0 ? bits + k : bits - k;
    out.push(value[0]);
  }
  return out;
}

describe('quantized attention variants (pure data)', () => {
  it('validates every field once, with ERR_QATTN_OPTION naming it', () => {
    expect(checkQuantizedAttentionVariant(PER_TOKEN)).toBe(PER_TOKEN);
    const bad: Array<[keyof QuantizedAttentionVariant, unknown]> = [
      ['qRowsPerScale', 0],
      ['kRowsPerScale', 1.5],
      ['pv', 'fp8'],
      ['vScale', { keysPerScale: 0, perChannel: true }],
      ['pCodeMax', 63],
      ['pScale', 'tile'],
      ['exponent', 'exp'],
      ['skipSparseTiles', 'yes'],
      ['blockN', -64],
    ];
    for (const [field, value] of bad) {
      let caught: unknown;
      try {
        checkQuantizedAttentionVariant({ ...PER_TOKEN, [field]: value } as QuantizedAttentionVariant);
      } catch (err) {
        caught = err;
      }
      expect(isQattnError(caught, 'ERR_QATTN_OPTION') && (caught as Error).message.includes(field), field).toBe(true);
    }
    expect(() => checkQuantizedAttentionVariant({ ...FLASHQ_SAS, sasThreshold: 25 })).toThrow(expect.objectContaining({ code: 'ERR_QATTN_OPTION' }));
  });

  it('keys plans by every field, and ignores the threshold of exact exp2', () => {
    const changed: QuantizedAttentionVariant[] = [
      { ...PER_TOKEN, qRowsPerScale: 64 },
      { ...PER_TOKEN, kRowsPerScale: 64 },
      { ...PER_TOKEN, smoothK: false },
      { ...PER_TOKEN, pv: 'fp16' },
      { ...PER_TOKEN, vScale: { keysPerScale: 64, perChannel: false } },
      { ...PER_TOKEN, vScale: { keysPerScale: 'all', perChannel: true } },
      { ...PER_TOKEN, smoothV: true },
      { ...PER_TOKEN, pCodeMax: 127 },
      { ...PER_TOKEN, pScale: 'global' },
      { ...PER_TOKEN, exponent: 'sas' },
      { ...PER_TOKEN, skipSparseTiles: true },
      { ...PER_TOKEN, blockN: 32 },
      { ...FLASHQ_SAS, sasThreshold: 8 },
    ];
    const keys = new Set([PER_TOKEN, FLASHQ_SAS, ...changed].map(quantizedAttentionVariantKey));
    expect(keys.size).toBe(changed.length + 2);
    expect(quantizedAttentionVariantKey({ ...PER_TOKEN, sasThreshold: 3 })).toBe(quantizedAttentionVariantKey(PER_TOKEN));
  });
});

describe.skipIf(!initial)('the shared attention kernels on a real adapter', () => {
  for (const threshold of [SAS_DEFAULT_THRESHOLD, 24, 5.5]) {
    it(`SAS in f32 is within ${SAS_F32_MAX_REL_ERROR} of 2^x on [−T, 0], 0 below −T, 1 at 0 (T = ${threshold})`, async () => {
      const context = await acquireGpu();
      // A dense f32 grid over [−T, 0], the f32 neighbours of every −n, and both sides of −T.
      const xs: number[] = [];
      for (let i = 0; i <= 1 << 20; i++) xs.push(-threshold * (i / (1 << 20)));
      for (let n = 1; n <= threshold; n++) xs.push(...f32Neighbours(-n, 64));
      xs.push(0, -0, Math.fround(-threshold));
      const kept = Float32Array.from(xs.filter((x) => x >= -threshold));
      const y = await exponentOnDevice(context, 'sas', threshold, 'f32', kept);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < kept.length; i++) {
        const error = Math.abs(y[i] - 2 ** kept[i]) / 2 ** kept[i];
        if (error > worst) [worst, at] = [error, kept[i]];
      }
      expect(worst, `at x = ${at}`).toBeLessThanOrEqual(SAS_F32_MAX_REL_ERROR);
      expect(SAS_F32_MAX_REL_ERROR).toBeLessThan(SAS_MAX_REL_ERROR);
      // The polynomial's own error, not an exp2 in disguise.
      expect(worst).toBeGreaterThan(1e-4);
      expect(y[kept.indexOf(0)]).toBe(1);
      const below = Float32Array.from([...f32Neighbours(Math.fround(-threshold), 16).filter((x) => x < -threshold), -threshold - 1, -1e30]);
      expect(Array.from(await exponentOnDevice(context, 'sas', threshold, 'f32', below))).toEqual(Array.from(below, () => 0));
    });
  }

  it('SAS in f32 is non-decreasing on the f32 grid around every n boundary and across [−1, −1/2] (EXPONENT_MONOTONE)', async () => {
    const context = await acquireGpu();
    const threshold = SAS_MAX_THRESHOLD;
    const around = Array.from({ length: threshold }, (_, n) => f32Neighbours(-(n + 1), 1 << 12));
    const x = new Float32Array(around.length * around[0].length + (1 << 23) + 1 + (1 << 16) + 1);
    // Where f wraps from 1⁻ to 0 (p(1) < 1/2 is where the bare polynomial steps up), 2^12 f32s on each side.
    x.set(around.flat());
    let filled = around.length * around[0].length;
    // Every f32 of [−1, −1/2]: f takes every 2^−16 step of [1/2, 1] there, where p falls slowest.
    for (let i = 0; i <= 1 << 23; i++) x[filled++] = -1 + i * 2 ** -24;
    for (let i = 0; i <= 1 << 16; i++) x[filled++] = -threshold * (i / (1 << 16));
    x.sort();
    const y = await exponentOnDevice(context, 'sas', threshold, 'f32', x);
    let decreases = 0;
    let first = '';
    for (let i = 1; i < x.length; i++) {
      if (y[i] < y[i - 1] && decreases++ === 0) first = `exponent2(${x[i - 1]}) = ${y[i - 1]} > exponent2(${x[i]}) = ${y[i]}`;
    }
    expect(decreases, first).toBe(0);
    expect(exponentWgsl('sas', threshold, 'f32').monotone).toBe(true);
  });

  describe.skipIf(!initial?.capabilities.shaderF16)('SAS in f16 (adapters with shader-f16)', () => {
    for (const threshold of [SAS_DEFAULT_THRESHOLD, 24, 5.5]) {
      it(`equals quant-core's sasExp2 bit for bit (T = ${threshold})`, async () => {
        const context = await acquireGpu();
        const xs: number[] = [];
        // x = −(n + f) for every fp16 f and every n the threshold keeps, the grid points on both sides of −T, and a
        // dense f32 grid over [−T − 1, 0].
        for (const f of fp16Fractions()) for (let n = 0; n <= Math.ceil(threshold); n++) xs.push(-(n + f));
        for (let i = 0; i <= 1 << 16; i++) xs.push(-(threshold + 1) * (i / (1 << 16)));
        xs.push(-threshold, Math.fround(-threshold) - 2 ** -20, 0, -1e30);
        const x = Float32Array.from(xs);
        const y = await exponentOnDevice(context, 'sas', threshold, 'f16', x);
        let mismatches = 0;
        let first = '';
        for (let i = 0; i < x.length; i++) {
          const expected = sasExp2(x[i], threshold);
          if (!Object.is(y[i], Math.fround(expected)) && !(y[i] === 0 && expected === 0)) {
            if (mismatches++ === 0) first = `x=${x[i]}: device ${y[i]}, sasExp2 ${expected}`;
          }
        }
        expect(mismatches, first).toBe(0);
        // The results are fp16 values (what SAS promises a kernel's P·V).
        for (let i = 0; i < x.length; i += 97) expect(f16round(y[i])).toBe(y[i]);
        expect(exponentWgsl('sas', threshold, 'f16')).toMatchObject({ needsF16: true, monotone: false });
      });
    }
  });

  it('exact exp2 matches 2^x to f32 accuracy and never counts as zero', async () => {
    const context = await acquireGpu();
    const x = Float32Array.from({ length: 4097 }, (_, i) => -30 * (i / 4096));
    const y = await exponentOnDevice(context, 'exp2', 0, 'f32', x);
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i] - 2 ** x[i]) / 2 ** x[i]).toBeLessThan(2 ** -20);
    expect(exponentWgsl('exp2', 0, 'f16')).toEqual(exponentWgsl('exp2', 0, 'f32'));
    expect(exponentWgsl('exp2', 0, 'f32').wgsl).toMatch(/fn exponent2_is_zero\(x: f32\) -> bool \{\s*return false;/);
  });

  it('plans once per (device, shape, variant): repeats reuse the workspace; the LRU frees the oldest', async () => {
    const context = await acquireGpu();
    clearAttentionPlans(context.device);
    const request = (seqKV: number, variant = PER_TOKEN): AttentionPlanRequest => ({
      label: 'test',
      shape: resolveShape({ batch: 1, heads: 2, seqQ: 8, seqKV, headDim: 32 }),
      scale: 0.2,
      causal: false,
      variant,
    });
    const first = cachedAttentionPlan(context, request(64));
    expect(cachedAttentionPlan(context, request(64))).toBe(first);
    expect(cachedAttentionPlan(context, request(64, FLASHQ_SAS))).not.toBe(first);
    for (let i = 1; i <= PLAN_CACHE_CAPACITY; i++) cachedAttentionPlan(context, request(64 * (i + 1)));
    expect(cachedAttentionPlanCount(context.device)).toBe(PLAN_CACHE_CAPACITY);
    // The first plan was the least recently used: evicted, so asking again plans anew.
    expect(cachedAttentionPlan(context, request(64))).not.toBe(first);
    // Planning errors are thrown on every call and never cached.
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(() => cachedAttentionPlan(context, { ...request(64), shape: resolveShape({ batch: 1, heads: 1, seqQ: 4, seqKV: 4, headDim: 40 }) })).toThrow(
        expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' }),
      );
      expect(() => cachedAttentionPlan(context, request(64, { ...PER_TOKEN, vScale: { keysPerScale: 24, perChannel: true } }))).toThrow(
        expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' }),
      );
    }
    clearAttentionPlans(context.device);
    expect(cachedAttentionPlanCount(context.device)).toBe(0);
  });

  it("picks SAS's arithmetic from the device, keys pipelines by it, and rejects f16 without shader-f16", async () => {
    const context = await acquireGpu();
    const request: AttentionPlanRequest = {
      label: 'test',
      shape: resolveShape({ batch: 1, heads: 2, seqQ: 8, seqKV: 64, headDim: 32 }),
      scale: 0.2,
      causal: false,
      variant: FLASHQ_SAS,
    };
    // The oracle's own arithmetic wherever the adapter has it.
    expect(chooseSasPrecision({ shaderF16: true })).toBe('f16');
    expect(chooseSasPrecision({ shaderF16: false })).toBe('f32');
    const plan = planQuantizedAttention(context, request);
    expect(plan.kernel.sasPrecision).toBe(chooseSasPrecision(context.capabilities));
    const f32 = planQuantizedAttention(context, { ...request, run: { sasPrecision: 'f32' } });
    expect(f32.kernel.sasPrecision).toBe('f32');
    // The f32 path is monotone: no cross-thread P-max reduction; SAS in f16 keeps it.
    expect(int8AttentionSource(f32.schedule, f32.kernel)).toContain('const EXPONENT_MONOTONE: bool = true;');
    expect(attentionPlanKey({ ...request, run: { sasPrecision: 'f32' } })).not.toBe(attentionPlanKey(request));
    const noF16 = { ...context, capabilities: { ...context.capabilities, shaderF16: false } };
    expect(planQuantizedAttention(noF16, request).kernel.sasPrecision).toBe('f32');
    expect(() => planQuantizedAttention(noF16, { ...request, run: { sasPrecision: 'f16' } })).toThrow(
      expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED', message: expect.stringContaining('sasPrecision') }),
    );
    expect(() => planQuantizedAttention(context, { ...request, run: { sasPrecision: 'f64' as SasPrecision } })).toThrow(
      expect.objectContaining({ code: 'ERR_QATTN_OPTION' }),
    );
    if (context.capabilities.shaderF16) {
      const f16 = planQuantizedAttention(context, { ...request, run: { sasPrecision: 'f16' } });
      const source = int8AttentionSource(f16.schedule, f16.kernel);
      expect(source.startsWith('enable f16;')).toBe(true);
      expect(source).toContain('const EXPONENT_MONOTONE: bool = false;');
      expect(int8AttentionKey(f16.schedule, f16.kernel)).not.toBe(int8AttentionKey(f32.schedule, f32.kernel));
    }
    // Exact exp2 reads no precision: one pipeline for both.
    const exp2 = planQuantizedAttention(context, { ...request, variant: PER_TOKEN }).kernel;
    expect(int8AttentionKey(plan.schedule, { ...exp2, sasPrecision: 'f16' })).toBe(int8AttentionKey(plan.schedule, { ...exp2, sasPrecision: 'f32' }));
  });

  it('typed-array calls reuse one plan, overlap safely, and give identical results', async () => {
    const context = await acquireGpu();
    clearAttentionPlans(context.device);
    const shape = resolveShape({ batch: 1, heads: 2, kvHeads: 1, seqQ: 20, seqKV: 70, headDim: 32 });
    const random = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 12.9898) * 2);
    const arrays = { q: random(shape.qElements, 1), k: random(shape.kvElements, 2), v: random(shape.kvElements, 3) };
    const runs: Array<[QuantizedAttentionVariant, SasPrecision | undefined]> = [
      [PER_TOKEN, undefined],
      [FLASHQ_SAS, undefined],
      [FLASHQ_SAS, 'f32'],
    ];
    for (const [variant, sasPrecision] of runs) {
      const request: AttentionPlanRequest = { label: 'test', shape, scale: 0.25, causal: true, variant, run: { sasPrecision } };
      const once = await quantizedAttentionOnArrays('test', context, request, arrays);
      // Concurrent calls: the second finds the plan's buffers busy and takes its own.
      const [a, b] = await Promise.all([quantizedAttentionOnArrays('test', context, request, arrays), quantizedAttentionOnArrays('test', context, request, arrays)]);
      expect(Array.from(a)).toEqual(Array.from(once));
      expect(Array.from(b)).toEqual(Array.from(once));
      expect(once.every(Number.isFinite)).toBe(true);
    }
    // A request that pins sasPrecision is a plan of its own, even where it names the device's default.
    expect(cachedAttentionPlanCount(context.device)).toBe(3);
  });

  // Last: it destroys the shared device.
  it('a lost device rejects with ERR_QATTN_DEVICE and the next call plans on a new device', async () => {
    const context = await acquireGpu();
    const shape = resolveShape({ batch: 1, heads: 1, seqQ: 8, seqKV: 8, headDim: 32 });
    const request: AttentionPlanRequest = { label: 'test', shape, scale: 0.2, causal: false, variant: FLASHQ_SAS };
    const arrays = { q: new Float32Array(256).fill(0.5), k: new Float32Array(256).fill(0.25), v: new Float32Array(256).fill(1) };
    const before = await quantizedAttentionOnArrays('test', context, request, arrays);
    context.device.destroy();
    await context.device.lost;
    const lost = await quantizedAttentionOnArrays('test', context, request, arrays).catch((err: unknown) => err);
    expect(isQattnError(lost, 'ERR_QATTN_DEVICE')).toBe(true);
    const fresh = await acquireGpu();
    expect(fresh).not.toBe(context);
    expect(Array.from(await quantizedAttentionOnArrays('test', fresh, request, arrays))).toEqual(Array.from(before));
  });
});
