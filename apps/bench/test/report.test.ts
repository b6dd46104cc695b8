import Ajv from 'ajv';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../src/report/report.js';
import { benchRoot, runCli, TINY } from './helpers.js';

const schema = JSON.parse(readFileSync(join(benchRoot, 'schema/bench-report.schema.json'), 'utf8')) as object;

/** Collects every text node of a parsed SVG (legend labels, axis titles). */
function texts(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string' || typeof node === 'number') out.push(String(node));
  else if (Array.isArray(node)) node.forEach((child) => texts(child, out));
  else if (node && typeof node === 'object') Object.values(node).forEach((child) => texts(child, out));
  return out;
}

describe('reports of a tiny run (--json, --md, --plot)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qattn-bench-'));
  let run: Awaited<ReturnType<typeof runCli>>;
  let report: BenchReport;

  beforeAll(async () => {
    run = await runCli([...TINY, '--json', join(dir, 'out.json'), '--md', join(dir, 'out.md'), '--plot', join(dir, 'plots')]);
    report = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as BenchReport;
  });

  it('exits 0 and prints the table with every shape', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('B1 H2 N64 D16 causal');
    expect(run.stdout).toMatch(/float32\s+│ cpu/);
  });

  it('writes JSON that validates against schema/bench-report.schema.json', () => {
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    expect(validate(report), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // 4 shapes × (5 algorithms on cpu, 4 elsewhere: the float baseline is CPU-only).
    const expectedCells = report.config.sweptBackends.reduce((sum, b) => sum + 4 * (b === 'cpu' ? 5 : 4), 0);
    expect(report.cells).toHaveLength(expectedCells);
    const baseline = report.cells.filter((c) => c.algorithm === 'float32');
    expect(baseline.every((c) => c.status === 'ok' && c.tops! > 0 && c.accuracy!.relL2 < 1e-6)).toBe(true);
    expect(report.machine.cpu.cores).toBeGreaterThan(0);
    expect(report.git.commit).toMatch(/^[0-9a-f]{40}$|^unknown$/);
  });

  it('rejects a report that breaks the schema (the schema is not vacuous)', () => {
    const validate = new Ajv({ strict: true }).compile(schema);
    const broken = structuredClone(report) as unknown as { cells: Array<Record<string, unknown>> };
    broken.cells[0] = { ...broken.cells[0], status: 'ok', timing: undefined, tops: undefined };
    expect(validate(JSON.parse(JSON.stringify(broken)))).toBe(false);
    expect(validate({ ...report, schemaVersion: 2 })).toBe(false);
  });

  it('writes a markdown table with the same rows', () => {
    const md = readFileSync(join(dir, 'out.md'), 'utf8');
    expect(md).toMatch(/^\| algorithm \| backend \| shape \|/m);
    expect(md.match(/^\| float32 \| cpu \|/gm)).toHaveLength(4);
    expect(md).toContain('Command: `qattn-bench --heads 2');
  });

  it('writes SVG plots that parse as XML and carry every series and algorithm', () => {
    const tops = readFileSync(join(dir, 'plots/tops-vs-seq.svg'), 'utf8');
    expect(XMLValidator.validate(tops)).toBe(true);
    const parsed = new XMLParser({ ignoreAttributes: false }).parse(tops) as { svg?: unknown };
    expect(parsed.svg).toBeDefined();
    const topsTexts = texts(parsed);
    const series = [...new Set(report.cells.filter((c) => c.status === 'ok').map((c) => `${c.algorithm} · ${c.backend}`))];
    expect(series.length).toBeGreaterThan(0);
    for (const name of series) expect(topsTexts).toContain(name);
    expect(topsTexts).toContain('TOPS');

    const accuracy = readFileSync(join(dir, 'plots/accuracy.svg'), 'utf8');
    expect(XMLValidator.validate(accuracy)).toBe(true);
    const accuracyTexts = texts(new XMLParser().parse(accuracy));
    for (const cell of report.cells.filter((c) => c.accuracy)) expect(accuracyTexts).toContain(cell.algorithm);
  });

  it('writes PNG plots with the PNG signature', () => {
    for (const name of ['tops-vs-seq.png', 'accuracy.png']) {
      const png = readFileSync(join(dir, 'plots', name));
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(png.length).toBeGreaterThan(1000);
    }
  });

  it('re-renders the same tables and plots from the saved JSON with --from-json', async () => {
    const again = await runCli(['--from-json', join(dir, 'out.json'), '--md', join(dir, 'again.md'), '--plot', join(dir, 'again')]);
    expect(again.code, again.stderr).toBe(0);
    const rows = (file: string) => readFileSync(join(dir, file), 'utf8').split('\n').filter((l) => l.startsWith('| '));
    expect(rows('again.md')).toEqual(rows('out.md'));
    expect(XMLValidator.validate(readFileSync(join(dir, 'again/tops-vs-seq.svg'), 'utf8'))).toBe(true);
    const missing = await runCli(['--from-json', join(dir, 'missing.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read/);
  });
});

describe('cell table columns', async () => {
  const { cellTable } = await import('../src/report/format.js');
  const shape = { batch: 1, heads: 1, kvHeads: 1, seqQ: 4, seqKV: 4, headDim: 8, causal: false };
  const cell = (peakDeviceBytes?: number) => ({
    algorithm: 'flash-int8-pv-int8' as const,
    backend: 'cuda' as const,
    shape,
    ops: 512,
    status: 'ok' as const,
    tops: 1,
    timing: { medianMs: 1, minMs: 1, samplesMs: [1], timer: 'events', ...(peakDeviceBytes ? { peakDeviceBytes } : {}) },
  });
  it('shows peak device memory only when a backend reports it', () => {
    expect(cellTable([cell()]).head).not.toContain('peak MiB');
    const table = cellTable([cell(3 * 2 ** 20), cell()]);
    const column = table.head.indexOf('peak MiB');
    expect(table.rows.map((r) => r[column])).toEqual(['3', '–']);
  });
});
