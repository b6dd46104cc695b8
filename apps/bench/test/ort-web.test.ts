import Ajv from 'ajv';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as onnxProto from 'onnx-proto';
import { webGpuRequired } from '@qattn/webgpu-runtime';
import { afterAll, describe, expect, it } from 'vitest';
import type { CellShape } from '../src/metrics.js';
import { openOrtWeb, type OrtWebEnvironment, OrtWebUnavailable } from '../src/ort-web/environment.js';
import { buildAttentionModel, ortWebOpFor } from '../src/ort-web/onnx-model.js';
import { measureOrtWebCell, type OrtWebCell, ortWebRatios } from '../src/ort-web/peer.js';
import { loadReferencePackage } from '../src/packages.js';
import { ortWebComparison, ortWebSections } from '../src/report/ort-web.js';
import type { BenchReport } from '../src/report/report.js';
import { renderTable } from '../src/report/table.js';
import type { CellResult } from '../src/sweep.js';
import { benchRoot, runCli, TINY } from './helpers.js';

// onnx-proto is CommonJS: Node's ESM loader exposes it as the default export only.
const onnxModule = onnxProto as typeof onnxProto & { default?: typeof onnxProto };
const { onnx } = onnxModule.default ?? onnxModule;
const schema = JSON.parse(readFileSync(join(benchRoot, 'schema/bench-report.schema.json'), 'utf8')) as object;

const mha: CellShape = { batch: 2, heads: 4, kvHeads: 4, seqQ: 24, seqKV: 40, headDim: 32, causal: false };
const gqa: CellShape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 40, seqKV: 40, headDim: 32, causal: true };

const dimsOf = (info: onnxProto.onnx.IValueInfoProto) => info.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue));
const attributes = (node: onnxProto.onnx.INodeProto) => Object.fromEntries(node.attribute!.map((a) => [a.name, Number(a.i)]));

describe('the onnxruntime-web attention models', () => {
  it('encodes MultiHeadAttention for non-causal shapes, as the ONNX schema decodes it', () => {
    const model = buildAttentionModel(mha, 'float16');
    const decoded = onnx.ModelProto.decode(model.bytes);
    expect(Number(decoded.irVersion)).toBe(8);
    expect(decoded.opsetImport.map((o) => [o.domain ?? '', Number(o.version)])).toEqual([
      ['', 17],
      ['com.microsoft', 1],
    ]);
    const [node] = decoded.graph!.node!;
    expect(node).toMatchObject({ opType: 'MultiHeadAttention', domain: 'com.microsoft', input: ['query', 'key', 'value'], output: ['output'] });
    expect(attributes(node)).toEqual({ num_heads: 4 });
    expect(decoded.graph!.input!.map((i) => [i.name, i.type!.tensorType!.elemType, dimsOf(i)])).toEqual([
      ['query', onnx.TensorProto.DataType.FLOAT16, [2, 24, 128]],
      ['key', onnx.TensorProto.DataType.FLOAT16, [2, 40, 128]],
      ['value', onnx.TensorProto.DataType.FLOAT16, [2, 40, 128]],
    ]);
    expect(decoded.graph!.output!.map((o) => [o.name, dimsOf(o)])).toEqual([['output', [2, 24, 128]]]);
  });

  it('encodes GroupQueryAttention (causal, grouped K/V, no past) with its lengths and present K/V', () => {
    const model = buildAttentionModel(gqa, 'float32');
    const [node] = onnx.ModelProto.decode(model.bytes).graph!.node!;
    expect(node).toMatchObject({ opType: 'GroupQueryAttention', input: ['query', 'key', 'value', '', '', 'seqlens_k', 'total_sequence_length'] });
    expect(attributes(node)).toEqual({ num_heads: 4, kv_num_heads: 2 });
    expect(model.inputs.map((i) => [i.name, i.dtype, i.dims])).toEqual([
      ['query', 'float32', [1, 40, 128]],
      ['key', 'float32', [1, 40, 64]],
      ['value', 'float32', [1, 40, 64]],
      ['seqlens_k', 'int32', [1]],
      ['total_sequence_length', 'int32', [1]],
    ]);
    expect(model.outputs.map((o) => [o.name, o.dims])).toEqual([
      ['output', [1, 40, 128]],
      ['present_key', [1, 2, 40, 32]],
      ['present_value', [1, 2, 40, 32]],
    ]);
  });

  it('says why a shape has no contrib op', () => {
    expect(ortWebOpFor({ ...gqa, seqQ: 8 })).toEqual({ reason: expect.stringMatching(/seqQ ≠ seqKV/) });
    expect(ortWebOpFor({ ...gqa, causal: false })).toEqual({ reason: expect.stringMatching(/no grouped K\/V/) });
    expect(() => buildAttentionModel({ ...gqa, causal: false }, 'float32')).toThrow(RangeError);
  });
});

describe('onnxruntime-web in the report', () => {
  const timing = { medianMs: 2, minMs: 2, samplesMs: [2], quantMs: 0.5, attnMs: 1.5, timer: 'timestamp-query', path: 'dot4' };
  const cell = (backend: 'webgpu' | 'cuda'): CellResult => ({ algorithm: 'flash-int8-pv-int8', backend, shape: mha, ops: 1e9, status: 'ok', timing, tops: 0.5, topsAttention: 0.667 });
  const peers: OrtWebCell[] = [
    { peer: 'ort-web-f32', shape: mha, status: 'ok', op: 'MultiHeadAttention', timer: 'timestamp-query', medianMs: 8, minMs: 8, samplesMs: [8], hostMedianMs: 9, tops: 0.125 },
    { peer: 'ort-web-f16', shape: mha, status: 'skipped', error: { code: 'ERR_PEER_UNSUPPORTED', message: 'the adapter lacks shader-f16' } },
  ];

  it('relates only qattn webgpu cells to the peer, keeping the path they ran', () => {
    const ratios = ortWebRatios([cell('webgpu'), cell('cuda')], peers);
    expect(ratios).toEqual([
      { algorithm: 'flash-int8-pv-int8', backend: 'webgpu', path: 'dot4', peer: 'ort-web-f32', shape: mha, qattnMs: 2, peerMs: 8, speedup: 4, qattnKernelMs: 1.5, kernelSpeedup: 8 / 1.5 },
    ]);
  });

  it('tabulates the peer and the ratios, and the JSON validates against the schema', async () => {
    const cells = [cell('webgpu')];
    const report = {
      cells,
      ortWeb: { status: 'ok', version: '1.31.1', adapter: 'test adapter', shaderF16: false, cells: peers, ratios: ortWebRatios(cells, peers) },
    } as unknown as BenchReport;
    expect(ortWebComparison(report)).toEqual({
      head: ['algorithm', 'path', 'shape', 'kernel TOPS', 'call TOPS', 'ORT f32 TOPS', 'kernel ÷ ORT f32', 'call ÷ ORT f32'],
      rows: [['flash-int8-pv-int8', 'dot4', 'B2 H4 Sq24 Skv40 D32', '0.667', '0.5', '0.125', '5.33×', '4.00×']],
    });
    const [peerSection] = ortWebSections(report);
    expect(peerSection.intro).toEqual(['onnxruntime-web: ok 1.31.1 on test adapter (no shader-f16: f32 only)']);
    expect(peerSection.notes).toEqual(['ort-web-f16: skipped (ERR_PEER_UNSUPPORTED): the adapter lacks shader-f16']);
    // A real report of a tiny CPU run, with these cells and this section in it.
    const dir = mkdtempSync(join(tmpdir(), 'qattn-ort-web-'));
    expect((await runCli([...TINY, '--algorithms', 'float32', '--no-accuracy', '--json', join(dir, 'o.json')])).code).toBe(0);
    const json = { ...(JSON.parse(readFileSync(join(dir, 'o.json'), 'utf8')) as BenchReport), cells, ortWeb: report.ortWeb };
    const validate = new Ajv({ strict: true, allErrors: true }).compile(schema);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(renderTable(json)).toMatch(/qattn ÷ onnxruntime-web[\s\S]*5\.33×/);
  });
});

// The real thing on this machine's adapter: one causal GQA cell in f32 (onnxruntime-web compiles its WGSL through
// lavapipe's LLVM for about a minute; a GPU takes milliseconds). Skips with the reason where onnxruntime-web, Dawn or
// an adapter is missing, unless CI / QATTN_EXPECT_WEBGPU=1 demand an adapter.
let env: OrtWebEnvironment | undefined;
let skipReason: string | undefined;
try {
  env = await openOrtWeb();
} catch (err) {
  if (!(err instanceof OrtWebUnavailable) || webGpuRequired()) throw err;
  skipReason = err.message;
  console.warn(`onnxruntime-web peer test skipped: ${skipReason}`);
}
afterAll(() => env?.close());

describe.skipIf(!env)('the onnxruntime-web peer on this adapter', () => {
  it(
    'runs GroupQueryAttention (causal, GQA) from device buffers, times it on the GPU, and matches float64',
    async () => {
      const reference = await loadReferencePackage();
      const cell = await measureOrtWebCell(env!, 'ort-web-f32', gqa, { warmup: 1, repeats: 2, seed: 3, accuracyRows: gqa.seqQ, reference });
      expect(cell.status, JSON.stringify(cell.error)).toBe('ok');
      expect(cell).toMatchObject({ op: 'GroupQueryAttention', timer: env!.context.capabilities.timestampQuery ? 'timestamp-query' : 'host' });
      expect(cell.samplesMs).toHaveLength(2);
      // The GPU span of onnxruntime's submissions lies inside run() → queue idle on the host clock.
      expect(cell.medianMs!).toBeGreaterThan(0);
      expect(cell.medianMs!).toBeLessThanOrEqual(cell.hostMedianMs!);
      // Every query row of query head 1 (kv head 0) of the last batch against float64. onnxruntime-web 1.31's WebGPU
      // attention is 5–6% off float64 on lavapipe at these shapes (cosine 0.998; its CPU execution provider: 1.5e-7
      // on the same model and inputs), so the bound is that, with room; a wrong layout, head grouping or mask puts the
      // cosine far below 0.99.
      expect(cell.accuracy).toMatchObject({ rows: gqa.seqQ });
      expect(cell.accuracy!.cos).toBeGreaterThan(0.995);
      expect(cell.accuracy!.relL2).toBeLessThan(0.1);
    },
    300_000,
  );
});
