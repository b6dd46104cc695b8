// turbo-attn's CUDA tests, written against {describe, it} so they run under vitest here and under node:test on GPU
// hosts without pnpm (bundled into a node:test entry, test/gpu/gpu-tests.ts). Without a GPU they skip and print
// why, unless QATTN_EXPECT_CUDA=1 makes that a failure.
import assert from 'node:assert/strict';
import { attentionCapabilities, cudaAvailability, getCudaRuntime } from '@qattn/cuda-runtime';
import { type AttentionShape, SAS_MAX_REL_ERROR, SAS_MAX_THRESHOLD, isQattnError, resolveCommonOptions, resolveShape, sasExp2 } from '@qattn/quant-core';
import { attention, attentionRows, compare, type ConformanceCase, defineConformanceSuite, generateInputs, selectRows, type SuiteApi } from '@qattn/reference';
import { defineAttentionEntryChecks } from '../../cuda-runtime/test/attention-entry.suite.js';
import { loadTurboAttnAddon } from '../src/cuda/addon.js';
import { defineTurboDecodeCudaSuite } from './decode-cuda.suite.js';
import {
  createCudaBackend,
  resolveTurboOptions,
  turboAttention,
  turboAttentionDevice,
  turboAttentionWithStats,
  type TurboOptions,
} from '../src/index.js';

/** The describe/it pair this suite is written against (vitest here, node:test on GPU hosts). */
export type TestApi = SuiteApi;

/**
 * TurboAttention's accuracy bars against float64 (issue 2; the CPU backend's, src/accuracy.test.ts): LLM-like ≤ 3%,
 * sharp LLM-like (q × 3) ≤ 4.5%, U[0,1) ≤ 0.2%.
 */
export const TURBO_BARS = { llm: 0.03, sharp: 0.045, uniform: 0.002 } as const;

/**
 * CUDA vs the CPU oracle, relative L2. Same algorithm and the same SAS bits for a given score; they differ by the
 * fp32 rounding of the logits (the kernel folds s_q·s_k·σ·log2e and the INT32 bias into one FFMA, the oracle rounds
 * S·descale), by fp32 vs float64 channel means, and by the P codes those roundings move across a .5 boundary (one
 * code of 127 each). flash-int8's kernel, with the same sources of difference, measured 0.4–4e−4 against its oracle
 * on an H200; 2e−3 allows 5× that, far below what a wrong scale or a dropped tile gives (> 1e−2).
 */
export const TURBO_CUDA_VS_ORACLE = 2e-3;

/**
 * CUDA SAS with 2^x from the exponent unit (the sm80 default, `chooseSasEvaluation`) vs the oracle's fp16 polynomial:
 * every P the kernel computes is nearer 2^x than the oracle's by up to the polynomial's relative error
 * (SAS_MAX_REL_ERROR, 1.35e−3), which moves the normalized output by at most about as much, on top of the rounding
 * differences above.
 */
export const TURBO_CUDA_UNIT_VS_ORACLE = TURBO_CUDA_VS_ORACLE + SAS_MAX_REL_ERROR;

/** Float64 attention of a few query rows: each row against the keys it sees (the reference on a sliced problem). */
function bar(testCase: Pick<ConformanceCase, 'data' | 'sharpness'>): number {
  if (testCase.data === 'uniform') return TURBO_BARS.uniform;
  return testCase.sharpness > 1 ? TURBO_BARS.sharp : TURBO_BARS.llm;
}

/** The addon when it is built here (it loads without a GPU), else why not. */
function builtAddon(): ReturnType<typeof loadTurboAttnAddon> | string {
  try {
    return loadTurboAttnAddon();
  } catch (err) {
    return (err as Error).message;
  }
}

/** The bound of a CUDA call against the CPU oracle: tighter where both run SAS's polynomial (or no SAS at all). */
async function oracleBound(options: TurboOptions): Promise<number> {
  if (options.sas === false) return TURBO_CUDA_VS_ORACLE;
  return (await createCudaBackend()).sasEvaluation === 'unit' ? TURBO_CUDA_UNIT_VS_ORACLE : TURBO_CUDA_VS_ORACLE;
}

export function defineTurboCudaSuite(test: TestApi): void {
  const { describe, it } = test;
  const capabilities = attentionCapabilities('turbo-attn');
  defineTurboDecodeCudaSuite(test);

  describe('turbo-attn cuda addon (no device needed)', () => {
    const addon = builtAddon();
    if (typeof addon === 'string') {
      it(`skipped: the addon is not built here (${addon})`, () => {});
      return;
    }
    it('was built from capabilities.json, with the shared argument block and launch ABI', () => {
      assert.equal(addon.capabilitiesEntry, 'turbo-attn');
      assert.deepEqual([...addon.headDims], [...capabilities.headDims]);
      assert.deepEqual([...addon.keyBlocks], [...capabilities.keyBlocks]);
      assert.equal(addon.abiVersion, 1);
      assert.ok(addon.argsBytes > 0 && typeof addon.launcher === 'bigint' && typeof addon.sasProbeLauncher === 'bigint');
    });
    it('packArgs lays the fields out as qattn::AttentionArgs (attention_args.h, x86-64)', () => {
      const pointers = ['q', 'k', 'v', 'out', 'qInt8', 'qScale', 'kInt8', 'kScale', 'vT', 'vScale', 'kMean', 'vMean', 'statPartial'] as const;
      const ints = { batch: 2, heads: 8, kvHeads: 2, seqQ: 100, seqKV: 300, headDim: 128, seqQPad: 128, seqKVPad: 320, statSplits: 1 };
      const flags = { causal: 1, pvFp16: 0, pRowmax: 1, smoothK: 1, smoothV: 0, keyBlock: 32, qRowsPerScale: 48, kRowsPerScale: 32, vScalePerBlock: 1, exponent: addon.exponentSas };
      const fields = {
        ...Object.fromEntries(pointers.map((name, i) => [name, 0x1000n * BigInt(i + 1)])),
        ...ints,
        ...flags,
        smScaleLog2: 0.125,
        pCodeMax: 127,
        sasThreshold: 14,
        skipSparseTiles: 1,
        stages: 3,
      } as Parameters<typeof addon.packArgs>[0];
      const bytes = addon.packArgs(fields);
      assert.equal(bytes.byteLength, addon.argsBytes);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      pointers.forEach((name, i) => assert.equal(view.getBigUint64(8 * i, true), 0x1000n * BigInt(i + 1), name));
      const int32 = (offset: number) => view.getInt32(offset, true);
      const float32 = (offset: number) => view.getFloat32(offset, true);
      assert.deepEqual(Object.values(ints).map((_, i) => int32(104 + 4 * i)), Object.values(ints));
      assert.deepEqual([float32(140), float32(144), float32(148)], [0.125, 127, Math.fround(1 / 127)]);
      assert.deepEqual(Object.values(flags).map((_, i) => int32(152 + 4 * i)), Object.values(flags));
      assert.deepEqual([float32(192), int32(196), int32(200)], [14, 1, 3]);
      assert.throws(() => addon.packArgs({ ...fields, pCodeMax: 200 }), /pCodeMax/);
      assert.throws(() => addon.packArgs({ ...fields, qRowsPerScale: 0 }), /qRowsPerScale/);
    });
    it('layout pads Q rows to 128 and K/V rows to 64, and sizes the workspace', () => {
      const layout = addon.layout({ batch: 2, heads: 8, kvHeads: 2, seqQ: 100, seqKV: 300, headDim: 128 });
      assert.deepEqual([layout.seqQPad, layout.seqKVPad, layout.statSplits], [128, 320, 1]);
      assert.equal(layout.qInt8Bytes, 2 * 8 * 128 * 128);
      assert.equal(layout.kScaleBytes, 2 * 2 * 320 * 8);
      assert.equal(layout.vScaleBytes, 2 * 2 * (320 / 32) * 128 * 8);
    });
  });

  const availability = cudaAvailability();
  if (!availability.available && process.env.QATTN_EXPECT_CUDA !== '1') {
    console.warn(`turbo-attn cuda: skipping GPU tests, CUDA unavailable here (${availability.reason}); set QATTN_EXPECT_CUDA=1 to make this a failure`);
    describe('turbo-attn cuda (skipped: no CUDA device)', () => {
      it('the cuda backend reports ERR_QATTN_BACKEND_UNAVAILABLE saying why', async () => {
        await assert.rejects(
          turboAttention(new Float32Array(64), new Float32Array(64), new Float32Array(64), { batch: 1, heads: 1, seqQ: 1, seqKV: 1, headDim: 64 }, { backend: 'cuda' }),
          (err: unknown) => isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE') && /CUDA|addon/.test((err as Error).message),
        );
      });
    });
    return;
  }

  const unsupportedDims = new Set([32, 96, 256].filter((d) => !capabilities.headDims.includes(d)));
  const skip: Record<string, string> = {};
  for (const [name, dim] of [['hd32', 32], ['hd96', 96], ['hd256', 256]] as const) {
    if (unsupportedDims.has(dim)) skip[name] = `no hd${dim} kernel (capabilities.json: ${capabilities.headDims.join(', ')}); ERR_QATTN_UNSUPPORTED is tested below`;
  }

  // The conformance suite, each output also held to the CPU oracle.
  for (const [label, extra] of [['defaults', {}], ['sas:false', { sas: false }]] as const) {
    defineConformanceSuite({
      name: `turbo-attn cuda (${label})`,
      async run(q, k, v, shape, options) {
        const out = await turboAttention(q, k, v, shape, { ...options, ...extra, backend: 'cuda' } as TurboOptions);
        const oracle = await turboAttention(q, k, v, shape, { ...options, ...extra, backend: 'cpu' } as TurboOptions);
        const { relL2 } = compare(out, oracle);
        const limit = await oracleBound(extra);
        if (!(relL2 <= limit)) throw new Error(`cuda disagrees with the CPU oracle: relative L2 ${relL2.toExponential(3)} > ${limit}`);
        return out;
      },
      bound: bar,
      skip,
      test,
    });
  }

  describe('turbo-attn cuda vs the CPU oracle and float64', () => {
    const cases: Array<[string, Required<AttentionShape>, boolean, TurboOptions]> = [
      ['hd128 causal gqa', { batch: 1, heads: 4, kvHeads: 2, seqQ: 200, seqKV: 333, headDim: 128 }, true, {}],
      ['hd64', { batch: 2, heads: 2, kvHeads: 2, seqQ: 130, seqKV: 257, headDim: 64 }, false, {}],
      ['hd128 seqQ > seqKV causal', { batch: 1, heads: 2, kvHeads: 1, seqQ: 300, seqKV: 120, headDim: 128 }, true, {}],
      ['hd64 blockN 32 causal', { batch: 1, heads: 2, kvHeads: 1, seqQ: 150, seqKV: 222, headDim: 64 }, true, { blockN: 32 }],
      ['hd128 blockM 32', { batch: 1, heads: 2, kvHeads: 2, seqQ: 100, seqKV: 300, headDim: 128 }, false, { blockM: 32 }],
      ['hd64 blockM 48 (not a tile multiple)', { batch: 1, heads: 2, kvHeads: 2, seqQ: 150, seqKV: 150, headDim: 64 }, true, { blockM: 48 }],
      ['hd128 blockM 128', { batch: 1, heads: 2, kvHeads: 1, seqQ: 260, seqKV: 200, headDim: 128 }, false, { blockM: 128 }],
      ["hd128 vGranularity 'block'", { batch: 1, heads: 4, kvHeads: 2, seqQ: 160, seqKV: 320, headDim: 128 }, true, { vGranularity: 'block' }],
      ["hd64 pScale 'global'", { batch: 1, heads: 2, kvHeads: 2, seqQ: 130, seqKV: 200, headDim: 64 }, false, { pScale: 'global' }],
      ['hd128 no smoothing', { batch: 1, heads: 2, kvHeads: 2, seqQ: 100, seqKV: 180, headDim: 128 }, true, { smoothK: false, smoothV: false }],
      ['hd128 sas:false', { batch: 1, heads: 4, kvHeads: 2, seqQ: 200, seqKV: 333, headDim: 128 }, true, { sas: false }],
      ['hd64 sasThreshold 8', { batch: 1, heads: 2, kvHeads: 1, seqQ: 128, seqKV: 256, headDim: 64 }, true, { sasThreshold: 8 }],
      ['hd128 sasThreshold 20 (fp16-subnormal SAS results)', { batch: 1, heads: 2, kvHeads: 1, seqQ: 96, seqKV: 200, headDim: 128 }, false, { sasThreshold: 20 }],
    ];
    for (const [name, shape, causal, options] of cases) {
      it(`${name}: |cuda − cpu| within the evaluation's bound (SAS polynomial ${TURBO_CUDA_VS_ORACLE}, exponent unit ${TURBO_CUDA_UNIT_VS_ORACLE}) and error vs float64 within 1.1× the oracle's + 0.003`, async () => {
        const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 11 });
        const cuda = await turboAttention(q, k, v, shape, { ...options, causal, backend: 'cuda' });
        const cpu = await turboAttention(q, k, v, shape, { ...options, causal, backend: 'cpu' });
        const exact = attention(q, k, v, shape, { causal });
        const agreement = compare(cuda, cpu).relL2;
        const cudaError = compare(cuda, exact).relL2;
        const cpuError = compare(cpu, exact).relL2;
        const limit = await oracleBound(options);
        console.log(`[turbo-attn cuda] ${name}: relL2 cuda-vs-cpu ${agreement.toExponential(3)} (≤ ${limit}), vs float64 cuda ${cudaError.toExponential(3)} cpu ${cpuError.toExponential(3)}`);
        assert.ok(agreement <= limit, `cuda vs cpu relL2 ${agreement}`);
        assert.ok(cudaError <= 1.1 * cpuError + 0.003, `cuda relL2 ${cudaError} vs cpu ${cpuError}`);
        if (options.sas === false) return;
        // The other SAS evaluation on the same call: the polynomial must match the oracle to the tight bound.
        const backend = await createCudaBackend();
        const scaleCausal = resolveCommonOptions({ causal }, shape.headDim);
        const call = { q, k, v, shape: resolveShape(shape), ...scaleCausal, options: resolveTurboOptions({ ...options, causal, backend: 'cuda' }) };
        const other = backend.sasEvaluation === 'unit' ? 'polynomial' : 'unit';
        const alt = await backend.run(call, { sasEvaluation: other });
        const altAgreement = compare(alt, cpu).relL2;
        const altLimit = other === 'unit' ? TURBO_CUDA_UNIT_VS_ORACLE : TURBO_CUDA_VS_ORACLE;
        console.log(`[turbo-attn cuda] ${name}: SAS on ${other}: relL2 cuda-vs-cpu ${altAgreement.toExponential(3)} (≤ ${altLimit}), vs float64 ${compare(alt, exact).relL2.toExponential(3)}`);
        assert.ok(altAgreement <= altLimit, `${other}: cuda vs cpu relL2 ${altAgreement}`);
      });
    }
  });

  describe('turbo-attn cuda meets the CPU backend\'s accuracy bars (src/accuracy.test.ts)', () => {
    const shapes: Array<[string, AttentionShape, boolean]> = [
      ['hd64', { batch: 1, heads: 4, seqQ: 256, seqKV: 256, headDim: 64 }, false],
      ['hd64 causal', { batch: 1, heads: 4, seqQ: 300, seqKV: 300, headDim: 64 }, true],
      ['hd128 causal seqQ<seqKV', { batch: 1, heads: 4, seqQ: 128, seqKV: 384, headDim: 128 }, true],
      ['hd128 seqQ>seqKV', { batch: 1, heads: 4, seqQ: 200, seqKV: 120, headDim: 128 }, false],
      ['GQA 4:1 hd128 causal', { batch: 1, heads: 8, kvHeads: 2, seqQ: 160, seqKV: 320, headDim: 128 }, true],
      ['GQA 4:1 hd64, batch 2', { batch: 2, heads: 4, kvHeads: 1, seqQ: 96, seqKV: 256, headDim: 64 }, false],
    ];
    const data = [
      { name: 'LLM-like', kind: 'llm', sharpness: 1 },
      { name: 'sharp LLM-like', kind: 'llm', sharpness: 3 },
      { name: 'U[0,1)', kind: 'uniform', sharpness: 1 },
    ] as const;
    for (const d of data) {
      for (const [name, shape, causal] of shapes) {
        const limit = bar({ data: d.kind, sharpness: d.sharpness });
        it(`${d.name}, ${name}: relative L2 ≤ ${(limit * 100).toFixed(1)}%`, async () => {
          const { q, k, v } = generateInputs(shape, { kind: d.kind, seed: 21, sharpness: d.sharpness });
          const error = compare(await turboAttention(q, k, v, shape, { causal, backend: 'cuda' }), attention(q, k, v, shape, { causal })).relL2;
          assert.ok(error <= limit, `relL2 ${error}`);
          assert.ok(error > (d.kind === 'uniform' ? 1e-5 : 1e-3), `relL2 ${error}: INT8 everywhere must leave a visible error`);
        });
      }
    }
  });

  describe('turbo-attn cuda at long sequences (LLM-like data, float64 rows)', () => {
    for (const [seq, causal] of [[4096, false], [16384, true], [16384, false]] as const) {
      it(`N=${seq} hd128 ${causal ? 'causal' : 'full'}: relL2 ≤ ${TURBO_BARS.llm} on sampled rows`, async () => {
        const shape = { batch: 1, heads: 2, kvHeads: 1, seqQ: seq, seqKV: seq, headDim: 128 };
        const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: seq });
        const out = await turboAttention(q, k, v, shape, { causal, backend: 'cuda' });
        const rows = [0, 1, 63, 64, 65, 1000, seq / 2 - 1, seq - 129, seq - 2, seq - 1];
        const m = compare(selectRows(out, shape, rows), attentionRows(q, k, v, shape, causal, rows));
        console.log(`[turbo-attn cuda] N=${seq} ${causal ? 'causal' : 'full'}: relL2 ${m.relL2.toExponential(3)} cos ${m.cos.toFixed(6)}`);
        assert.ok(m.relL2 <= TURBO_BARS.llm, `relL2 ${m.relL2}`);
      });
    }
  });

  describe('turbo-attn cuda SAS and the sparse tile skip', () => {
    it("the kernels' SAS exponent is quant-core's sasExp2, bit for bit (T = 14; every fp16 f and n = 0..14)", async () => {
      const rt = getCudaRuntime();
      const addon = loadTurboAttnAddon();
      const xs: number[] = [0, -0, Number.NEGATIVE_INFINITY, Number.NaN, 1e-4, -14, Math.fround(-14.000001), -13.999, -1, -0.5];
      for (let n = 0; n <= 14; n++) {
        for (let bits = 0; bits < 0x3c00; bits++) xs.push(Math.fround(-(n + f16(bits))));
      }
      for (let i = 0; i < 4096; i++) xs.push(Math.fround(-30 * Math.random()));
      for (const threshold of [14, 8, 3.5]) {
        const got = await probeSas(rt, addon, Float32Array.from(xs), threshold);
        let mismatches = 0;
        xs.forEach((x, i) => {
          const expected = Math.fround(sasExp2(Math.fround(x), threshold));
          if (!Object.is(got[i], expected) && !(got[i] === 0 && expected === 0)) mismatches++;
        });
        assert.equal(mismatches, 0, `T=${threshold}: ${mismatches} of ${xs.length} differ from sasExp2`);
      }
    });

    it(`with T up to ${SAS_MAX_THRESHOLD}, results below 2^−14 (fp16 subnormals in quant-core) are within 2^−25`, async () => {
      const rt = getCudaRuntime();
      const addon = loadTurboAttnAddon();
      const xs = Float32Array.from({ length: 20000 }, (_, i) => -(i / 20000) * 25);
      const got = await probeSas(rt, addon, xs, SAS_MAX_THRESHOLD);
      let worst = 0;
      xs.forEach((x, i) => {
        const expected = sasExp2(x, SAS_MAX_THRESHOLD);
        worst = Math.max(worst, Math.abs(got[i] - expected));
        if (x >= -14) assert.equal(got[i], expected, `x=${x}`);
      });
      assert.ok(worst <= 2 ** -25, `worst |difference| ${worst}`);
    });

    it('skipping all-zero tiles is exact: the same output bit for bit with the skip disabled (T = 4, most tiles skipped)', async () => {
      const shape = resolveShape({ batch: 1, heads: 4, kvHeads: 2, seqQ: 256, seqKV: 512, headDim: 128 });
      const { q, k, v } = hotColdInputs(shape, 31);
      const { stats } = await turboAttentionWithStats(q, k, v, shape, { sasThreshold: 4 });
      assert.ok(stats.skippedSparse > stats.tiles / 4, `the data must make the oracle skip tiles (skipped ${stats.skippedSparse} of ${stats.tiles})`);
      const backend = await createCudaBackend();
      const { scale, causal } = resolveCommonOptions({ causal: false }, shape.headDim);
      const call = { q, k, v, shape, scale, causal, options: resolveTurboOptions({ sasThreshold: 4, backend: 'cuda' }) };
      const skipped = await backend.run(call);
      const dense = await backend.run(call, { skipSparseTiles: false });
      assert.deepEqual(skipped, dense);
      // The skip is exact with either evaluation of 2^x.
      const other = backend.sasEvaluation === 'unit' ? 'polynomial' : 'unit';
      assert.deepEqual(await backend.run(call, { sasEvaluation: other }), await backend.run(call, { sasEvaluation: other, skipSparseTiles: false }));
      const cpu = await turboAttention(q, k, v, shape, { sasThreshold: 4, backend: 'cpu' });
      const agreement = compare(skipped, cpu).relL2;
      console.log(`[turbo-attn cuda] sparse skip, T=4: oracle skipped ${stats.skippedSparse} of ${stats.tiles} tiles; relL2 cuda-vs-cpu ${agreement.toExponential(3)}`);
      assert.ok(agreement <= (await oracleBound({})), `vs the oracle ${agreement}`);
    });

    it('sas:false runs the exact-exp2 kernel: agrees with its oracle, and differs from SAS', async () => {
      const shape = { batch: 1, heads: 2, kvHeads: 1, seqQ: 128, seqKV: 256, headDim: 64 };
      const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 41 });
      const exact = await turboAttention(q, k, v, shape, { sas: false, backend: 'cuda' });
      const sas = await turboAttention(q, k, v, shape, { backend: 'cuda' });
      assert.ok(compare(exact, await turboAttention(q, k, v, shape, { sas: false, backend: 'cpu' })).relL2 <= TURBO_CUDA_VS_ORACLE);
      assert.notDeepEqual(exact, sas);
    });
  });

  describe('turbo-attn cuda device entry, plans, leaks, unsupported', () => {
    defineAttentionEntryChecks(it, {
      attention: turboAttention,
      attentionDevice: turboAttentionDevice,
      inputs: (shape, seed) => generateInputs(shape, { kind: 'llm', seed }),
      planHeadDim: 128,
      unsupportedCall: (q, k, v, shape) => turboAttention(q, k, v, shape, { backend: 'cuda', blockN: 16 }),
      benchmark: async (shape) => {
        const backend = await createCudaBackend();
        const result = await backend.benchmark(resolveShape(shape), 0.1, true, resolveTurboOptions({ backend: 'cuda' }), { warmup: 1, repeats: 2 });
        assert.ok(result.medianMs > 0 && result.quantMs > 0 && result.attnMs > 0 && result.timer === 'events', JSON.stringify(result));
      },
    });

    it('the device-resident entry refuses a backend other than cuda', async () => {
      const rt = getCudaRuntime();
      const shape = { batch: 1, heads: 2, seqQ: 8, seqKV: 8, headDim: 64 };
      const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 5 });
      const [qd, kd, vd] = await Promise.all([q, k, v].map((x) => rt.upload(x, 'float32', [1, 2, 8, 64])));
      await assert.rejects(turboAttentionDevice(qd, kd, vd, shape, { backend: 'cpu' }), (err: unknown) => isQattnError(err, 'ERR_QATTN_OPTION'));
      for (const t of [qd, kd, vd]) t.dispose();
    });

    it('rejects head dims and key blocks without a kernel with ERR_QATTN_UNSUPPORTED naming what is supported', async () => {
      const x = new Float32Array(8 * 96).fill(0.5);
      await assert.rejects(
        turboAttention(x, x, x, { batch: 1, heads: 1, seqQ: 8, seqKV: 8, headDim: 96 }, { backend: 'cuda' }),
        (err: unknown) => isQattnError(err, 'ERR_QATTN_UNSUPPORTED') && /headDim 96/.test((err as Error).message) && /64, 128/.test((err as Error).message),
      );
      const y = new Float32Array(8 * 64).fill(0.5);
      await assert.rejects(
        turboAttention(y, y, y, { batch: 1, heads: 1, seqQ: 8, seqKV: 8, headDim: 64 }, { backend: 'cuda', blockN: 128 }),
        (err: unknown) => isQattnError(err, 'ERR_QATTN_UNSUPPORTED') && /blockN 128/.test((err as Error).message),
      );
    });
  });
}

/**
 * Inputs where every third block of 64 keys is "hot": its keys share a direction u with every query, so their base-2
 * logits sit ≈ 10 above the other keys'. Under SAS with T = 4 the cold tiles are all-zero and get skipped.
 */
function hotColdInputs(shape: Required<AttentionShape>, seed: number): { q: Float32Array; k: Float32Array; v: Float32Array } {
  const { q, k, v } = generateInputs(shape, { kind: 'normal', seed });
  const d = shape.headDim;
  const u = generateInputs({ batch: 1, heads: 1, kvHeads: 1, seqQ: 1, seqKV: 1, headDim: d }, { kind: 'normal', seed: seed + 1 }).q;
  for (let i = 0; i < q.length; i++) q[i] += 0.5 * u[i % d];
  for (let row = 0; row < k.length / d; row++) {
    const hot = Math.floor((row % shape.seqKV) / 64) % 3 === 0;
    for (let c = 0; c < d; c++) k[row * d + c] = 0.5 * k[row * d + c] + (hot ? 1.25 * u[c] : 0);
  }
  return { q, k, v };
}

/** The value of fp16 bits in [0, 0x3c00) (f in [0, 1)). */
function f16(bits: number): number {
  const exponent = bits >> 10;
  const mantissa = bits & 0x3ff;
  return exponent === 0 ? mantissa * 2 ** -24 : (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

async function probeSas(rt: ReturnType<typeof getCudaRuntime>, addon: ReturnType<typeof loadTurboAttnAddon>, xs: Float32Array, threshold: number): Promise<Float32Array> {
  const x = await rt.upload(xs, 'float32', [xs.length]);
  const out = await rt.empty('float32', [xs.length]);
  try {
    await rt.launch(addon.sasProbeLauncher, addon.packSasProbeArgs({ x: x.pointer, out: out.pointer, count: xs.length, threshold }), 'turbo-attn SAS probe');
    return await out.download();
  } finally {
    x.dispose();
    out.dispose();
  }
}
