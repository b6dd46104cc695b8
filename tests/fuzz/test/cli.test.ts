// The two CLIs, run in-process on cpu: flags, replay through QATTN_FUZZ_SEED / QATTN_FUZZ_CASE, exit statuses, the
// summary and failure lines.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main as fuzzMain, EXIT_USAGE } from '../src/cli-fuzz.js';
import { type CheckResult, failureLines, fuzzCase, summarize, summaryTable } from '../src/index.js';
import { main as soakMain } from '../src/soak.js';

function capture() {
  const lines: string[] = [];
  return { lines, io: { out: (line: string) => lines.push(line), err: (line: string) => lines.push(`stderr: ${line}`) } };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('qattn-fuzz', () => {
  it('runs the cases of a seed on the named backends, prints the summary, exits 0; --json keeps every verdict', async () => {
    const { lines, io } = capture();
    const json = join(mkdtempSync(join(tmpdir(), 'qattn-fuzz-')), 'verdicts.json');
    const status = await fuzzMain(['--profile', 'ci', '--shapes', '3', '--backends', 'cpu', '--seed', '5', '--json', json], io);
    const text = lines.join('\n');
    expect(status).toBe(0);
    expect(text).toMatch(/seed 5, profile ci, 3 case\(s\), backends cpu/);
    expect(text).toMatch(/flash-int8 +│ cpu/);
    expect(text).toMatch(/no failures \(seed 5\)/);
    const written = JSON.parse(readFileSync(json, 'utf8'));
    expect(written.verdicts).toHaveLength(6);
    expect(written.verdicts[0]).toMatchObject({ seed: 5, index: 0, backend: 'cpu', status: 'pass' });
  });

  it('replays one case from QATTN_FUZZ_SEED and QATTN_FUZZ_CASE', async () => {
    vi.stubEnv('QATTN_FUZZ_SEED', '77');
    vi.stubEnv('QATTN_FUZZ_CASE', '4');
    const { lines, io } = capture();
    expect(await fuzzMain(['--profile', 'ci', '--backends', 'cpu', '--verbose'], io)).toBe(0);
    expect(lines.join('\n')).toMatch(/seed 77, profile ci, 1 case\(s\) \(case 4\)/);
    expect(lines.some((line) => line.startsWith('#4 ['))).toBe(true);
  });

  it('exits 2 on an unknown backend or a bad seed, before running anything', async () => {
    const { lines, io } = capture();
    expect(await fuzzMain(['--backends', 'cpu,tpu'], io)).toBe(EXIT_USAGE);
    expect(await fuzzMain(['--seed', '-3'], io)).toBe(EXIT_USAGE);
    expect(lines.join('\n')).toMatch(/unknown backend 'tpu'/);
  });
});

describe('failure lines and the summary', () => {
  const failing: CheckResult = {
    fuzzCase: fuzzCase(9, 17, 'full'),
    algorithm: 'turbo-attn',
    backend: 'webgpu',
    status: 'fail',
    ms: 3,
    message: 'out[3] = NaN from finite inputs',
  };

  it('a failure names the case and the command that replays it', () => {
    const text = failureLines(failing);
    expect(text).toMatch(/^FAIL turbo-attn webgpu #17 \[b\d+ h\d+\/kv\d+ q\d+ kv\d+ d\d+\]/);
    expect(text).toMatch(/out\[3\] = NaN from finite inputs/);
    expect(text).toContain('replay: QATTN_FUZZ_SEED=9 QATTN_FUZZ_CASE=17 pnpm --filter @qattn/fuzz fuzz --profile full --backends webgpu --algorithms turbo-attn');
  });

  it('the summary counts each status per algorithm and backend, with the worst margins', () => {
    const passing: CheckResult = { ...failing, status: 'pass', relL2: 0.015, bar: 0.03, oracleRelL2: 1e-4, oracleBound: 5e-4 };
    const rows = summarize([failing, passing, { ...passing, status: 'unsupported', relL2: undefined, bar: undefined }]);
    expect(rows).toEqual([expect.objectContaining({ algorithm: 'turbo-attn', backend: 'webgpu', pass: 1, fail: 1, unsupported: 1, rejected: 0, worstBarRatio: 0.5 })]);
    expect(rows[0].worstOracleRatio).toBeCloseTo(0.2, 10);
    expect(summaryTable(rows)).toMatch(/turbo-attn +│ webgpu +│ 1 +│ 0 +│ 1 +│ 1 +│ 0\.500/);
  });
});

describe('qattn-soak', () => {
  it('runs a short soak on cpu and prints the metrics', async () => {
    const { lines, io } = capture();
    expect(await soakMain(['--calls', '20', '--backends', 'cpu', '--bursts', '1', '--burst-size', '6'], io)).toBe(0);
    const text = lines.join('\n');
    expect(text).toMatch(/JS heap \(after GC\)/);
    expect(text).toMatch(/20 calls \+ 6 in bursts .* 0 failed call\(s\), 0 leak\(s\): ok/);
  });

  it('exits 2 on a bad flag', async () => {
    const { io } = capture();
    expect(await soakMain(['--calls', '0'], io)).toBe(2);
  });
});
