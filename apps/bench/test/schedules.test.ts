import Ajv from 'ajv';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Timing } from '../src/algorithms.js';
import type { CellShape } from '../src/metrics.js';
import type { BenchReport } from '../src/report/report.js';
import { scheduleRows, scheduleSummary } from '../src/report/schedules.js';
import { candidatesForShape, candidateLabel, filterCandidates, RULE_CANDIDATE, scheduleCandidates, SCHEDULE_SPACE, type ScheduleCandidate } from '../src/schedules/candidates.js';
import { CHECK_BOUND, runScheduleSweep, type ScheduleTarget } from '../src/schedules/sweep.js';
import { benchRoot, runCli } from './helpers.js';

const shape = (causal: boolean): CellShape => ({ batch: 1, heads: 32, kvHeads: 32, seqQ: 1024, seqKV: 1024, headDim: 128, causal });
const timing = (ms: number): Timing => ({ medianMs: ms, minMs: ms, samplesMs: [ms], quantMs: ms / 10, attnMs: (9 * ms) / 10, timer: 'timestamp-query' });

describe('schedule candidates', () => {
  it('are the rule plus every combination of the pinnable fields', () => {
    const all = scheduleCandidates();
    const combinations = Object.values(SCHEDULE_SPACE).reduce((n, values) => n * values.length, 1);
    expect(all).toHaveLength(1 + combinations);
    expect(all[0]).toBe(RULE_CANDIDATE);
    expect(new Set(all.map((c) => c.label)).size).toBe(all.length);
    expect(all.map((c) => c.label)).toContain('R2 wg512 pc4');
    expect(all.map((c) => c.label)).toContain('R4 wg128 pc1 heavy-first');
    expect(candidateLabel({ rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 16, heavyTilesFirst: false })).toBe('R2 wg256 pc16');
  });

  it('filter by label prefix and always keep the rule', () => {
    const kept = filterCandidates(scheduleCandidates(), ['R2 wg512', 'R4 wg128 pc4']);
    expect(new Set(kept.map((c) => c.label))).toEqual(
      new Set(['rule', ...[1, 2, 4, 8, 16].flatMap((pc) => [`R2 wg512 pc${pc}`, `R2 wg512 pc${pc} heavy-first`]), 'R4 wg128 pc4', 'R4 wg128 pc4 heavy-first']),
    );
    expect(kept[0].label).toBe('rule');
    expect(filterCandidates(scheduleCandidates(), undefined)).toHaveLength(scheduleCandidates().length);
  });

  it('drop heavy-first off causal shapes and fold candidates that resolve to one schedule into the first', () => {
    const candidates = filterCandidates(scheduleCandidates(), ['R4 wg512', 'R2 wg512 pc4']);
    // A device too small for R4 at 512 threads: the schedule function lowers it to R2 (same key as R2 wg512).
    const keyOf = (c: ScheduleCandidate) => (c.overrides ? `R2:wg512:pc${c.overrides.pvChannelTile}${c.overrides.heavyTilesFirst ? ':heavy' : ''}` : 'R2:wg512:pc4');
    const nonCausal = candidatesForShape(candidates, false, keyOf);
    expect(nonCausal.every((k) => !k.candidate.overrides?.heavyTilesFirst)).toBe(true);
    const rule = nonCausal.find((k) => k.candidate.label === 'rule')!;
    expect(rule.duplicates).toEqual(['R2 wg512 pc4', 'R4 wg512 pc4']);
    expect(nonCausal.find((k) => k.candidate.label === 'R4 wg512 pc8')!.duplicates).toEqual([]);
    const causal = candidatesForShape(candidates, true, keyOf);
    expect(causal.find((k) => k.candidate.label === 'R2 wg512 pc4 heavy-first')!.duplicates).toEqual(['R4 wg512 pc4 heavy-first']);
  });

  it('keep a candidate whose schedule cannot be resolved, with the error', () => {
    const failing = candidatesForShape([RULE_CANDIDATE], false, () => {
      throw Object.assign(new Error('no tile fits'), { code: 'ERR_QATTN_UNSUPPORTED' });
    });
    expect(failing[0].keyError).toBeInstanceOf(Error);
  });
});

describe('runScheduleSweep', () => {
  const candidates = filterCandidates(scheduleCandidates(), ['R2 wg256 pc4', 'R1 wg64 pc2']);
  /** A fake: R2 is twice as fast as the rule; R1 wg64 computes something else. */
  const target: ScheduleTarget = {
    algorithm: 'flash-int8-pv-int8',
    scheduleKey: (c, s) => `${c.label}${s.causal ? ' causal' : ''}`,
    benchmark: async (c) => timing(c.label.startsWith('R2') ? 1 : 2),
    check: async (c) => ({ vsOracle: c.label.startsWith('R1') ? 0.2 : 1e-5, vsReference: 0.013, oracleVsReference: 0.013 }),
  };

  it('checks every schedule once, skips the wrong one, times the rest against the rule and the baseline', async () => {
    let baselineCalls = 0;
    const baseline = { name: 'f32', benchmark: async () => timing(3 + baselineCalls++) };
    const progress: number[] = [];
    const result = await runScheduleSweep([shape(false), shape(true)], [target], baseline, { warmup: 0, repeats: 1, candidates }, (done, total) => void progress.push(done / total));
    expect(result.checks.map((c) => [c.candidate, c.pass])).toEqual([
      ['rule', true],
      ['R1 wg64 pc2', false],
      ['R1 wg64 pc2 heavy-first', false],
      ['R2 wg256 pc4', true],
      ['R2 wg256 pc4 heavy-first', true],
    ]);
    const nonCausal = result.rows.filter((r) => !r.shape.causal);
    expect(nonCausal.map((r) => [r.candidate, r.status, r.speedupVsRule])).toEqual([
      ['rule', 'ok', 1],
      ['R1 wg64 pc2', 'skipped', undefined],
      ['R2 wg256 pc4', 'ok', 2],
    ]);
    expect(nonCausal[1].error!.code).toBe('ERR_BENCH_WRONG_RESULT');
    expect(result.rows.filter((r) => r.shape.causal)).toHaveLength(5);
    expect(result.baselines.map((b) => b.when)).toEqual(['before', 'after', 'before', 'after']);
    expect(result.checkBound).toBe(CHECK_BOUND);
    expect(progress.at(-1)).toBe(1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]);

    const summary = scheduleSummary({ ...result });
    expect(summary[0]).toMatch(/^correctness: 3 of 5 schedules agree with the CPU oracle within 0.0005/);
    expect(summary).toContain('  flash-int8-pv-int8 R1 wg64 pc2: DISAGREES with the CPU oracle: 2.00e-1 > 0.0005 (not timed)');
    expect(summary.find((l) => l.startsWith('flash-int8-pv-int8 B1 H32 N1024 D128:'))).toMatch(/fastest R2 wg256 pc4 .* 2\.00× the rule, 3\.00× the faster f32 baseline median/);
    const rows = scheduleRows({ ...result });
    expect(rows[0].slice(2, 5)).toEqual(['rule', 'rule', '2']);
  });

  it('reports a benchmark failure in its row and goes on', async () => {
    const broken: ScheduleTarget = { ...target, benchmark: async (c) => (c === RULE_CANDIDATE ? timing(1) : Promise.reject(Object.assign(new Error('device lost'), { code: 'ERR_QATTN_DEVICE' }))) };
    const result = await runScheduleSweep([shape(false)], [broken], undefined, { warmup: 0, repeats: 1, candidates });
    expect(result.rows.map((r) => r.status)).toEqual(['ok', 'skipped', 'error']);
    expect(result.rows[2].error).toEqual({ code: 'ERR_QATTN_DEVICE', message: 'device lost' });
  });
});

describe('qattn-bench --preset schedules and --preset sanitize', () => {
  const schema = JSON.parse(readFileSync(join(benchRoot, 'schema/bench-report.schema.json'), 'utf8')) as object;
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

  it('sweeps the rule on a tiny shape (or says there is no adapter) and writes a report that validates', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'qattn-schedules-')), 's.json');
    const { code, stderr } = await runCli(['--preset', 'schedules', '--seq', '64', '--heads', '1', '--head-dim', '32', '--causal', 'false', '--warmup', '0', '--repeats', '1', '--no-progress', '--json', out]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(report.config.mode).toBe('schedules');
    if (report.schedules) expect(report.schedules.rows[0]).toMatchObject({ algorithm: 'flash-int8-pv-int8', candidate: 'rule' });
    expect(validate(report), JSON.stringify(validate.errors, null, 2)).toBe(true);
  }, 120_000);

  it('runs the sanitizer workload where cuda is, says so where it is not, and writes a report that validates', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'qattn-sanitize-')), 's.json');
    const { code, stdout } = await runCli(['--preset', 'sanitize', '-a', 'flash-int8-pv-fp16', '--no-progress', '--json', out]);
    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    const results = report.sanitize!.results;
    expect(code).toBe(results.some((r) => r.status === 'failed') ? 3 : 0);
    if (results.length === 0) expect(stdout).toMatch(/sanitize flash-int8-pv-fp16: cuda unavailable/);
    expect(validate(report), JSON.stringify(validate.errors, null, 2)).toBe(true);
  }, 120_000);
});
