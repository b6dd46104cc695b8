import Ajv from 'ajv';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { CellShape } from '../src/metrics.js';
import { COPY_PEER, type PeerCell, peerRatios, quantCopyRatios, runPeers } from '../src/peers.js';
import { COPY_PEER_TRAFFIC, quantTraffic } from '../src/quant-traffic.js';
import { cellTable, peerComparison, quantCopyRows } from '../src/report/format.js';
import { jsonReport } from '../src/report/json.js';
import { reportSections } from '../src/report/sections.js';
import type { BenchReport } from '../src/report/report.js';
import type { CellResult } from '../src/sweep.js';
import { benchRoot, runCli, spawnBin, TINY } from './helpers.js';

const fakeScript = fileURLToPath(new URL('./fixtures/fake-peers.mjs', import.meta.url));
const shape: CellShape = { batch: 1, heads: 2, kvHeads: 2, seqQ: 64, seqKV: 64, headDim: 16, causal: false };
const options = { warmup: 0, repeats: 1, seed: 1, accuracyRows: 16 };
const schema = JSON.parse(readFileSync(join(benchRoot, 'schema/bench-report.schema.json'), 'utf8')) as object;

afterEach(() => {
  delete process.env.QATTN_PEERS_SCRIPT;
});

describe('--peers without python or torch', () => {
  it('reports a missing interpreter and never throws', async () => {
    const report = await runPeers([shape], { ...options, python: '/nonexistent/python3' });
    expect(report.status).toBe('unavailable');
    expect(report.reason).toBe('/nonexistent/python3 not found (set --python or QATTN_PYTHON)');
    expect(report.cells).toEqual([]);
  });

  it('keeps the sweep going when PATH has no python3: exit 0, qattn cells measured, peers unavailable in the JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qattn-peers-'));
    const out = join(dir, 'out.json');
    const result = spawnBin([...TINY, '--algorithms', 'float32', '--no-accuracy', '--peers', '--json', out], { ...process.env, PATH: dir, QATTN_PYTHON: '' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/peers: unavailable: python3 not found/);
    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(report.peers?.status).toBe('unavailable');
    expect(report.cells.filter((c) => c.status === 'ok')).toHaveLength(4);
    expect(new Ajv({ strict: true }).compile(schema)(report)).toBe(true);
  });

  const python3 = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
  const torchMissing = python3.error === undefined && python3.status !== 0;
  it.skipIf(!torchMissing)('reports "torch not importable" from the real script when python3 has no torch', async () => {
    const report = await runPeers([shape], { ...options, python: 'python3' });
    expect(report.status).toBe('unavailable');
    expect(report.reason).toMatch(/^torch not importable: /);
    expect(report.pythonVersion).toMatch(/^3\./);
  });

  it('reports a script that dies without JSON as an error with its stderr', async () => {
    process.env.QATTN_PEERS_SCRIPT = fileURLToPath(new URL('./fixtures/crashing-peers.mjs', import.meta.url));
    const report = await runPeers([shape], { ...options, python: process.execPath });
    expect(report.status).toBe('error');
    expect(report.reason).toMatch(/^peers script exited with 3 without a JSON result: .*boom$/);
  });
});

describe('peer results', () => {
  it('parses the script output, computes peer TOPS, forwards progress and keeps other stderr', async () => {
    process.env.QATTN_PEERS_SCRIPT = fakeScript;
    const progress: string[] = [];
    const report = await runPeers([shape, { ...shape, causal: true }], { ...options, python: process.execPath, onProgress: (d, t, l) => void progress.push(`${d}/${t} ${l}`) });
    expect(report).toMatchObject({ status: 'ok', torch: '2.9.0', device: 'Fake GPU', pythonVersion: '3.12.0' });
    expect(report.cells).toHaveLength(6);
    const flash = report.cells[0];
    expect(flash.shape).toEqual(shape);
    expect(flash.tops).toBeCloseTo((4 * 2 * 64 * 64 * 16) / 4e-3 / 1e12, 12);
    expect(report.cells[1]).toMatchObject({ status: 'skipped', error: { code: 'ERR_PEER_MEMORY' } });
    // The copy is asked for the quantization's bytes of each shape (an even count: read and write halves) and gets
    // GB/s, not TOPS.
    const copy = report.cells[2];
    const bytes = quantTraffic(shape, COPY_PEER_TRAFFIC).totalBytes;
    expect(copy).toMatchObject({ peer: COPY_PEER, shape, bytesMoved: bytes + (bytes % 2) });
    expect(copy.gbps).toBeCloseTo(copy.bytesMoved! / 0.5e-3 / 1e9, 9);
    expect(copy.tops).toBeUndefined();
    expect(progress).toEqual(['0/2 shape 0', '1/2 shape 1']);
  });

  it('relates GPU qattn cells to peers of the same shape (speedup = peer ms / qattn ms)', () => {
    const cell = (backend: 'cpu' | 'cuda', medianMs: number, s = shape): CellResult => ({
      algorithm: 'flash-int8-pv-int8',
      backend,
      shape: s,
      ops: 1,
      status: 'ok',
      timing: { medianMs, minMs: medianMs, samplesMs: [medianMs], timer: 'events' },
    });
    const peers = [{ peer: 'sdpa-flash-fp16' as const, shape: { ...shape }, status: 'ok' as const, medianMs: 4 }];
    const ratios = peerRatios([cell('cuda', 2), cell('cpu', 1), cell('cuda', 1, { ...shape, causal: true })], peers);
    expect(ratios).toHaveLength(1);
    expect(ratios[0]).toMatchObject({ backend: 'cuda', peer: 'sdpa-flash-fp16', qattnMs: 2, peerMs: 4, speedup: 2 });
    expect(ratios[0].kernelSpeedup).toBeUndefined();
  });

  it('adds the kernel-only ratio (peer ms / attnMs) and tabulates kernel and call ratios per peer', () => {
    const timing = { medianMs: 2, minMs: 2, samplesMs: [2], quantMs: 0.4, attnMs: 1.6, timer: 'events' };
    const cell: CellResult = { algorithm: 'turbo-attn', backend: 'cuda', shape, ops: 1e9, status: 'ok', timing, tops: 0.5, topsAttention: 0.625 };
    const peers = [
      { peer: 'sdpa-flash-fp16' as const, shape, status: 'ok' as const, medianMs: 4, tops: 0.25 },
      { peer: 'sdpa-cudnn-bf16' as const, shape, status: 'ok' as const, medianMs: 1, tops: 1 },
    ];
    const ratios = peerRatios([cell], peers);
    expect(ratios.map((r) => [r.peer, r.speedup, r.kernelSpeedup])).toEqual([
      ['sdpa-flash-fp16', 2, 2.5],
      ['sdpa-cudnn-bf16', 0.5, 0.625],
    ]);
    const report = { cells: [cell], peers: { status: 'ok', python: 'python3', cells: peers, ratios } } as unknown as BenchReport;
    const { head, rows } = peerComparison(report);
    expect(head).toEqual(['algorithm', 'backend', 'shape', 'kernel TOPS', 'call TOPS', 'flash fp16 TOPS', 'kernel ÷ flash fp16', 'call ÷ flash fp16', 'cuDNN bf16 TOPS', 'kernel ÷ cuDNN bf16', 'call ÷ cuDNN bf16']);
    expect(rows).toEqual([['turbo-attn', 'cuda', 'B1 H2 N64 D16', '0.625', '0.5', '0.25', '2.50×', '2.00×', '1', '0.63×', '0.50×']]);
  });

  it('relates each cuda cell\'s quant GB/s to the copy of its shape, in the JSON and a section of its own', async () => {
    const timing = { medianMs: 2, minMs: 2, samplesMs: [2], quantMs: 0.01, attnMs: 1.99, timer: 'events' };
    const cuda: CellResult = { algorithm: 'turbo-attn', backend: 'cuda', shape, ops: 1e9, status: 'ok', timing, tops: 0.5, topsAttention: 0.5 };
    const webgpu: CellResult = { ...cuda, backend: 'webgpu' };
    const other: CellResult = { ...cuda, shape: { ...shape, seqKV: 128 } };
    const quantBytes = quantTraffic(shape, { pv: 'int8', keyBlock: 64 }).totalBytes;
    const peers: PeerCell[] = [
      { peer: 'sdpa-flash-fp16', shape, status: 'ok', medianMs: 4, tops: 0.25 },
      // 2 ms for 8e6 bytes: 4 GB/s.
      { peer: COPY_PEER, shape, status: 'ok', medianMs: 2, bytesMoved: 8e6, gbps: 4 },
    ];
    const ratios = quantCopyRatios([cuda, webgpu, other], peers);
    expect(ratios).toHaveLength(1);
    expect(ratios[0]).toMatchObject({ algorithm: 'turbo-attn', quantMs: 0.01, quantBytes, copyMs: 2, copyBytes: 8e6, copyGbps: 4 });
    expect(ratios[0].quantGbps).toBeCloseTo(quantBytes / 1e-5 / 1e9, 9);
    expect(ratios[0].ofCopy).toBeCloseTo(quantBytes / 1e-5 / 1e9 / 4, 9);
    // --options blockN 32 doubles the V scales, so the bytes and the GB/s grow.
    expect(quantCopyRatios([cuda], peers, { blockN: 32 })[0].quantBytes).toBe(quantTraffic(shape, { pv: 'int8', keyBlock: 32 }).totalBytes);
    // The copy is no attention peer: the SDPA ratios leave it out.
    expect(peerRatios([cuda], peers).map((r) => r.peer)).toEqual(['sdpa-flash-fp16']);
    expect(quantCopyRows(ratios)).toEqual([['turbo-attn', 'B1 H2 N64 D16', '0.01', expect.any(String), expect.any(String), '2', '7.63', '4', `${ratios[0].ofCopy.toFixed(2)}×`]]);

    const table = cellTable([cuda, webgpu]);
    const column = table.head.indexOf('quant GB/s');
    expect(column).toBeGreaterThan(table.head.indexOf('quant ms'));
    expect(table.rows.map((r) => r[column])).toEqual([expect.stringMatching(/^\d/), '–']);
    expect(cellTable([webgpu]).head).not.toContain('quant GB/s');

    // A real run's report (machine, config, …) carrying these cells and peers.
    const dir = mkdtempSync(join(tmpdir(), 'qattn-peers-'));
    const { code } = await runCli([...TINY, '--algorithms', 'float32', '--no-accuracy', '--json', join(dir, 'base.json')]);
    expect(code).toBe(0);
    const base = JSON.parse(readFileSync(join(dir, 'base.json'), 'utf8')) as BenchReport;
    const report: BenchReport = { ...base, cells: [cuda, webgpu], peers: { status: 'ok', python: 'python3', cells: peers, ratios: peerRatios([cuda], peers) } };
    const json = JSON.parse(JSON.stringify(jsonReport(report))) as BenchReport;
    expect((json.cells as Array<CellResult & { quantGbps?: number }>).map((c) => c.quantGbps)).toEqual([ratios[0].quantGbps, undefined]);
    expect(json.peers!.quantCopy).toEqual(JSON.parse(JSON.stringify(ratios)));
    const validate = new Ajv({ strict: true, allErrors: true }).compile(schema);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    const section = reportSections(json).find((s) => s.title === 'Quantization ÷ device copy');
    expect(section?.table?.rows).toEqual(quantCopyRows(ratios));
  });

  it('puts peers and ratios in the JSON and the printed tables', async () => {
    process.env.QATTN_PEERS_SCRIPT = fakeScript;
    const dir = mkdtempSync(join(tmpdir(), 'qattn-peers-'));
    const { code, stdout } = await runCli([...TINY, '--algorithms', 'float32', '--no-accuracy', '--peers', '--python', process.execPath, '--json', join(dir, 'o.json')]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/peers \(PyTorch SDPA via .*\): ok on Fake GPU, torch 2\.9\.0/);
    expect(stdout).toMatch(/sdpa-flash-fp16 .*B1 H2 N32 D16/);
    const report = JSON.parse(readFileSync(join(dir, 'o.json'), 'utf8')) as BenchReport;
    expect(report.peers!.cells).toHaveLength(12);
    expect(stdout).toMatch(/copy-quant .*B1 H2 N32 D16 .*GB\/s/);
    if (!report.machine.gpus.some((g) => g.source === 'nvidia-smi')) expect(report.machine.gpus).toEqual([{ name: 'Fake GPU', source: 'torch' }]);
    expect(new Ajv({ strict: true }).compile(schema)(report)).toBe(true);
  });
});

// The real script against a real torch, on the CPU (QATTN_PEERS_DEVICE=cpu: math and CPU flash; cuDNN errors out).
// Runs where python3 imports torch, or with QATTN_TEST_TORCH_PYTHON pointing at such an interpreter.
const torchPython = process.env.QATTN_TEST_TORCH_PYTHON || (spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0 ? 'python3' : '');
describe.skipIf(!torchPython)('peers/sdpa_peers.py with torch on the CPU', () => {
  it('times the peers, reports cuDNN as an error, and matches the float64 reference on GQA + causal Sq≠Skv', async () => {
    process.env.QATTN_PEERS_DEVICE = 'cpu';
    try {
      const shapes: CellShape[] = [
        { batch: 1, heads: 4, kvHeads: 2, seqQ: 24, seqKV: 40, headDim: 32, causal: true },
        { batch: 1, heads: 2, kvHeads: 1, seqQ: 1, seqKV: 64, headDim: 16, causal: true },
      ];
      const report = await runPeers(shapes, { ...options, repeats: 2, python: torchPython });
      expect(report.status, report.reason).toBe('ok');
      expect(report.device).toBe('cpu');
      const byPeer = (peer: string) => report.cells.filter((c) => c.peer === peer);
      for (const cell of [...byPeer('sdpa-flash-fp16'), ...byPeer('sdpa-math-fp32')]) {
        expect(cell.status, JSON.stringify(cell.error)).toBe('ok');
        expect(cell.samplesMs).toHaveLength(2);
        // A wrong mask alignment would be off by tens of percent; fp16 rounding is ~1e-3.
        expect(cell.accuracy!.relL2).toBeLessThan(cell.peer === 'sdpa-math-fp32' ? 1e-5 : 3e-3);
      }
      expect(byPeer('sdpa-cudnn-bf16').every((c) => c.status === 'error')).toBe(true);
    } finally {
      delete process.env.QATTN_PEERS_DEVICE;
    }
  });
});

