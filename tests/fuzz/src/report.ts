// The fuzz run's summary: one table row per algorithm × backend, and one replayable line per failure.
import Table from 'cli-table3';
import type { Algorithm, Backend } from './bars.js';
import { describeCase } from './cases.js';
import { type CheckResult, replayCommand } from './runner.js';

/** Counts and worst margins of one algorithm × backend. */
export interface SummaryRow {
  algorithm: Algorithm;
  backend: Backend;
  pass: number;
  rejected: number;
  unsupported: number;
  fail: number;
  /** Largest relL2 / bar over the judged outputs (≤ 1 passes). */
  worstBarRatio: number;
  /** Largest relL2-vs-oracle / bound (GPU backends). */
  worstOracleRatio: number;
  /** Total time of the backend's calls. */
  ms: number;
}

/** Folds verdicts into one row per algorithm × backend, in first-seen order. */
export function summarize(results: readonly CheckResult[]): SummaryRow[] {
  const rows = new Map<string, SummaryRow>();
  for (const r of results) {
    const key = `${r.algorithm}/${r.backend}`;
    let row = rows.get(key);
    if (!row) {
      row = { algorithm: r.algorithm, backend: r.backend, pass: 0, rejected: 0, unsupported: 0, fail: 0, worstBarRatio: 0, worstOracleRatio: 0, ms: 0 };
      rows.set(key, row);
    }
    row[r.status]++;
    row.ms += r.ms;
    if (r.relL2 !== undefined && r.bar !== undefined && Number.isFinite(r.bar)) row.worstBarRatio = Math.max(row.worstBarRatio, r.relL2 / r.bar);
    if (r.oracleRelL2 !== undefined && r.oracleBound !== undefined) row.worstOracleRatio = Math.max(row.worstOracleRatio, r.oracleRelL2 / r.oracleBound);
  }
  return [...rows.values()];
}

/** The summary as a text table (cli-table3). */
export function summaryTable(rows: readonly SummaryRow[]): string {
  const table = new Table({
    head: ['algorithm', 'backend', 'pass', 'rejected (edge)', 'unsupported (head dim)', 'FAIL', 'worst relL2/bar', 'worst vs oracle/bound', 'time'],
    style: { head: [], border: [] },
  });
  for (const row of rows) {
    table.push([
      row.algorithm,
      row.backend,
      row.pass,
      row.rejected,
      row.unsupported,
      row.fail,
      row.worstBarRatio.toFixed(3),
      row.backend === 'cpu' ? '—' : row.worstOracleRatio.toFixed(3),
      `${(row.ms / 1000).toFixed(1)} s`,
    ]);
  }
  return table.toString();
}

/** One failure as two lines: what failed on which case, and the command that replays it. */
export function failureLines(result: CheckResult): string {
  return `FAIL ${result.algorithm} ${result.backend} ${describeCase(result.fuzzCase)}: ${result.message}\n  replay: ${replayCommand(result)}`;
}
