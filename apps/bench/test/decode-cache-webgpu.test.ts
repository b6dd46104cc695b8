// `qattn-bench --preset decode-cache-smoke --backends webgpu` end to end on this machine's adapter (lavapipe in CI):
// turboDecode over the WebGPU cache next to the plain WGSL decode baselines, in one run and one report. Without an
// adapter it skips and says why (QATTN_EXPECT_WEBGPU=1 or CI=true make that a failure).
import Ajv from 'ajv';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuForTests } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../src/report/report.js';
import { benchRoot, runCli } from './helpers.js';

const schema = JSON.parse(readFileSync(join(benchRoot, 'schema/bench-report.schema.json'), 'utf8')) as object;
const { context, skipReason } = await gpuForTests();

describe.skipIf(!context)(`qattn-bench --preset decode-cache-smoke --backends webgpu${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('measures turboDecode over the WebGPU cache and the f32/f16 WGSL decode on the same adapter, and relates them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qattn-decode-cache-webgpu-'));
    const json = join(dir, 'out.json');
    const md = join(dir, 'out.md');
    const run = await runCli(['--preset', 'decode-cache-smoke', '--backends', 'webgpu', '--seq-kv', '333', '--caches', 'int4', '--no-progress', '--json', json, '--md', md]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    const validate = new Ajv({ strict: true, allErrors: true }).compile(schema);
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
    const decode = report.decodeCache!;
    const [row] = decode.rows;
    expect(row).toMatchObject({ backend: 'webgpu', cache: 'int4', status: 'ok' });
    expect(row.step!.timer).toBe(context!.capabilities.timestampQuery ? 'timestamp-query' : 'host (typed call: upload, decode, download)');
    expect(row.deviceStep).toMatchObject({ status: 'ok' });
    const baselines = decode.wgslBaselines!;
    expect(baselines.adapter).toBe(context!.adapter.description || context!.adapter.device || context!.adapter.vendor);
    const expected = context!.capabilities.shaderF16 ? ['wgsl-f32', 'wgsl-f16'] : ['wgsl-f32'];
    const ok = baselines.cells.filter((c) => c.status === 'ok');
    expect(ok.map((c) => c.peer)).toEqual(expected);
    for (const cell of ok) {
      expect(cell.step!.timer).toBe(row.step!.timer);
      expect(cell.bytesPerStep).toBe(2 * 1 * 2 * 333 * 64 * (cell.dtype === 'float32' ? 4 : 2));
      expect(cell.gbps).toBeCloseTo(cell.bytesPerStep! / (cell.step!.medianMs * 1e-3) / 1e9, 9);
      // wgsl/decode.ts is exact to f32 rounding (test/wgsl-decode.test.ts); f16 storage adds ≈ 2⁻¹¹ per element.
      expect(cell.accuracy!.relL2).toBeLessThan(cell.dtype === 'float32' ? 1e-5 : 2e-3);
      expect(cell.accuracy!.slices).toBe(row.accuracy!.slices);
    }
    const [comparison] = decode.comparisons;
    expect(comparison.wgsl!.map((w) => w.peer)).toEqual(expected);
    for (const w of comparison.wgsl!) expect(w.speedup).toBeCloseTo(w.peerMs / row.step!.medianMs, 12);
    expect(decode.targets.filter((t) => t.target === 'speedup vs WGSL')).toHaveLength(1);
    expect(run.stdout).toMatch(/WebGPU peers \(plain WGSL decode, same adapter\):/);
    const text = readFileSync(md, 'utf8');
    expect(text).toMatch(/^\| wgsl-f32 \| B1 H8\/2 Sq1 Skv333 D64 \|/m);
    expect(text).toMatch(/÷ fastest WGSL/);
  });
});
