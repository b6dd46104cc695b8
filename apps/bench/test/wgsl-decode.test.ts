// The plain WGSL decode the decode-cache preset measures next to turboDecode on WebGPU (src/decode-cache/wgsl/): its
// schedule (pure), then the kernel against @qattn/reference float64 attention on lavapipe here. Without an adapter the
// kernel tests skip and say why (QATTN_EXPECT_WEBGPU=1 or CI=true make that a failure).
import { isQattnError } from '@qattn/quant-core';
import { attention, compare, generateInputs } from '@qattn/reference';
import { gpuForTests, WebGpuTensor } from '@qattn/webgpu-runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { WgslDecode, type WgslDecodeShape } from '../src/decode-cache/wgsl/decode.js';
import { chooseWgslDecodeSchedule, splitPassBytes, type WgslDecodeDevice } from '../src/decode-cache/wgsl/schedule.js';

const H200: WgslDecodeDevice = { workgroupStorage: 49152, maxWorkgroupsPerDimension: 65535, software: false, threads: 1 };
const LAVAPIPE: WgslDecodeDevice = { workgroupStorage: 32768, maxWorkgroupsPerDimension: 65535, software: true, threads: 2 };
const issue = { batch: 4, kvHeads: 8, rowsTotal: 4, headDim: 128 };

describe('wgsl decode schedule', () => {
  it("tiles issue 9's shape on a GPU: 16-KiB K tiles, ~1024 workgroups of ≥ 2 tiles per split", () => {
    const f32 = chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', seqKV: 4096 }, H200);
    expect(f32).toMatchObject({ workgroupSize: 128, rowsPerTile: 4, rowTiles: 1, keysPerTile: 32, keyLanes: 4, rowParts: 4, splits: 32, keysPerSplit: 128, rolledLoops: false });
    expect(f32.workgroupBytes).toBe(splitPassBytes('float32', 128, 4, 32, 4));
    expect(f32.workgroupBytes).toBeLessThanOrEqual(24 * 1024);
    const f16 = chooseWgslDecodeSchedule({ ...issue, dtype: 'float16', seqKV: 4096 }, H200);
    expect(f16).toMatchObject({ keysPerTile: 64, rowParts: 2, splits: 32, keysPerSplit: 128 });
    // 64K keys: the same 32 splits per (sequence, kv head), 2048 keys each.
    expect(chooseWgslDecodeSchedule({ ...issue, dtype: 'float16', seqKV: 65536 }, H200)).toMatchObject({ splits: 32, keysPerSplit: 2048 });
    // A short cache is not cut below two tiles per split.
    expect(chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', seqKV: 100 }, H200)).toMatchObject({ splits: 2, keysPerSplit: 64 });
  });

  it('on a software adapter: 64 invocations, two workgroups per CPU thread, rolled loops', () => {
    const s = chooseWgslDecodeSchedule({ dtype: 'float32', batch: 1, kvHeads: 2, rowsTotal: 4, seqKV: 1000, headDim: 64 }, LAVAPIPE);
    expect(s).toMatchObject({ workgroupSize: 64, keysPerTile: 64, keyLanes: 4, rowParts: 1, splits: 2, keysPerSplit: 512, rolledLoops: true });
  });

  it('balances rows over tiles of ≤ 16, honours keysPerSplit, and rejects what it cannot tile', () => {
    // 8:1 GQA × 4 query tokens = 32 rows: 2 tiles of 16; 20 rows: 2 of 10.
    expect(chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', rowsTotal: 32, seqKV: 4096 }, H200)).toMatchObject({ rowsPerTile: 16, rowTiles: 2 });
    expect(chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', rowsTotal: 20, seqKV: 4096 }, H200)).toMatchObject({ rowsPerTile: 10, rowTiles: 2 });
    expect(chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', seqKV: 1000 }, H200, 300)).toMatchObject({ keysPerSplit: 300, splits: 4 });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return isQattnError(err) ? err.code : 'not a QattnError';
      }
      return 'no error';
    };
    expect(code(() => chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', headDim: 66, seqKV: 64 }, H200))).toBe('ERR_QATTN_UNSUPPORTED');
    expect(code(() => chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', headDim: 1024, seqKV: 64 }, H200))).toBe('ERR_QATTN_UNSUPPORTED');
    expect(code(() => chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', seqKV: 64 }, { ...H200, workgroupStorage: 1024 }))).toBe('ERR_QATTN_UNSUPPORTED');
    expect(code(() => chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', seqKV: 64 }, { ...H200, maxWorkgroupsPerDimension: 4 }))).toBe('ERR_QATTN_UNSUPPORTED');
    expect(code(() => chooseWgslDecodeSchedule({ ...issue, dtype: 'float32', seqKV: 64 }, H200, 0))).toBe('ERR_QATTN_OPTION');
  });
});

const { context, skipReason } = await gpuForTests();
const made: WgslDecode[] = [];
const measured: string[] = [];
afterAll(() => {
  for (const decode of made) decode.dispose();
  if (measured.length) console.info(`wgsl decode vs float64 (relative L2: same inputs / original K/V):\n  ${measured.join('\n  ')}`);
});

/**
 * Relative L2 of the kernel against float64 attention over the very K/V it reads (f16: rounded to nearest by
 * WebGpuTensor, as the upload does). What remains is f32 arithmetic — sums of 16–128-term dot products and of ≤ 1000
 * probabilities, exp2 to WGSL's 3 + 2|x| ULP — a few 1e-7 relative; 1e-5 is far below a dropped key or split (> 1e-3).
 */
const F32_AGREEMENT = 1e-5;

async function roundedToF16(data: Float32Array): Promise<Float32Array> {
  const tensor = WebGpuTensor.fromArray(context!, data, [data.length], 'float16');
  try {
    return await tensor.toArray();
  } finally {
    tensor.dispose();
  }
}

describe.skipIf(!context)(`wgsl decode on WebGPU${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const cases: Array<{ name: string; shape: WgslDecodeShape; keysPerSplit?: number; profile?: 'hardware' }> = [
    { name: 'GQA 4:1, 300 keys, the default schedule', shape: { batch: 1, heads: 8, kvHeads: 2, seqQ: 1, seqKV: 300, headDim: 64 } },
    { name: 'GQA 4:1, 300 keys, one split (written directly)', shape: { batch: 1, heads: 8, kvHeads: 2, seqQ: 1, seqKV: 300, headDim: 64 }, keysPerSplit: 1024 },
    { name: 'GQA 8:1 × 3 causal tokens, 2 sequences, 70-key splits (partial tiles)', shape: { batch: 2, heads: 8, kvHeads: 1, seqQ: 3, seqKV: 201, headDim: 64 }, keysPerSplit: 70 },
    { name: 'MHA, hd 128, 33-key splits', shape: { batch: 1, heads: 2, kvHeads: 2, seqQ: 1, seqKV: 130, headDim: 128 }, keysPerSplit: 33 },
    // What a GPU runs (128 invocations, unrolled loops, its K tiles and split rule), here on the software adapter.
    {
      name: 'the GPU schedule, GQA 4:1 × 2 causal tokens, hd 128, 3 sequences',
      shape: { batch: 3, heads: 8, kvHeads: 2, seqQ: 2, seqKV: 517, headDim: 128 },
      profile: 'hardware',
    },
  ];
  for (const dtype of ['float32', 'float16'] as const) {
    for (const { name, shape, keysPerSplit, profile } of cases) {
      it(`${dtype}: ${name}`, async () => {
        if (dtype === 'float16' && !context!.capabilities.shaderF16) return;
        const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 3 });
        const decode = await WgslDecode.create(context!, shape, dtype, k, v, { ...(keysPerSplit ? { keysPerSplit } : {}), ...(profile ? { profile } : {}) });
        made.push(decode);
        if (keysPerSplit) expect(decode.schedule.splits).toBe(Math.ceil(shape.seqKV / keysPerSplit));
        if (profile) expect(decode.schedule).toMatchObject({ workgroupSize: 128, rolledLoops: false, rowsPerTile: 8 });
        const out = await decode.run(q);
        const [kIn, vIn] = dtype === 'float32' ? [k, v] : [await roundedToF16(k), await roundedToF16(v)];
        const causal = shape.seqQ > 1;
        const same = compare(out, attention(q, kIn, vIn, shape, { causal })).relL2;
        const original = compare(out, attention(q, k, v, shape, { causal })).relL2;
        measured.push(`${dtype} ${name}: ${same.toExponential(2)} / ${original.toExponential(2)}`);
        expect(same).toBeLessThan(F32_AGREEMENT);
        // Against the original K/V, f16 storage alone costs ≈ 2⁻¹¹ relative per element.
        expect(original).toBeLessThan(dtype === 'float32' ? F32_AGREEMENT : 2e-3);
        expect(decode.kvBytes).toBe(2 * shape.batch * shape.kvHeads * shape.seqKV * shape.headDim * (dtype === 'float32' ? 4 : 2));
      });
    }
  }

  it('times steps with GPU timestamps and refuses bad input with a QattnError', async () => {
    const shape: WgslDecodeShape = { batch: 1, heads: 8, kvHeads: 2, seqQ: 1, seqKV: 300, headDim: 64 };
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 4 });
    const decode = await WgslDecode.create(context!, shape, 'float32', k, v);
    made.push(decode);
    const { timer, samplesMs } = await decode.time(q, { warmup: 1, repeats: 3 });
    expect(timer).toBe(context!.capabilities.timestampQuery ? 'timestamp-query' : 'host');
    expect(samplesMs).toHaveLength(3);
    expect(samplesMs.every((ms) => ms > 0 && ms < 1000)).toBe(true);
    const codeOf = async (f: () => Promise<unknown>) => f().then(() => 'no error', (err) => (isQattnError(err) ? err.code : `not a QattnError: ${String(err)}`));
    expect(await codeOf(() => decode.run(q.subarray(1)))).toBe('ERR_QATTN_SHAPE');
    expect(await codeOf(() => WgslDecode.create(context!, { ...shape, heads: 7 }, 'float32', k, v))).toBe('ERR_QATTN_SHAPE');
    expect(await codeOf(() => WgslDecode.create(context!, shape, 'float32', k.subarray(64), v))).toBe('ERR_QATTN_SHAPE');
    expect(await codeOf(() => WgslDecode.create(context!, { ...shape, headDim: 6 }, 'float32', new Float32Array(2 * 300 * 6), new Float32Array(2 * 300 * 6)))).toBe('ERR_QATTN_UNSUPPORTED');
    expect(await codeOf(() => WgslDecode.create(context!, shape, 'bfloat16' as never, k, v))).toBe('ERR_QATTN_DTYPE');
    decode.dispose();
    decode.dispose();
    expect(await codeOf(() => decode.run(q))).toBe('ERR_QATTN_DISPOSED');
  });
});
