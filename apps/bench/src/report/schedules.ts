import { shapeLabel } from '../metrics.js';
import type { SchedulesReport } from '../schedules/sweep.js';
import { sig3 } from './format.js';

const dash = '–';

export const SCHEDULE_COLUMNS = ['algorithm', 'shape', 'candidate', 'schedule', 'median ms', 'TOPS', 'attn TOPS', '× rule', 'same schedule as', 'status'];

/** One row per timed candidate and shape, in run order (the rule first at each shape). */
export function scheduleRows(schedules: SchedulesReport): string[][] {
  return schedules.rows.map((r) => [
    r.algorithm,
    shapeLabel(r.shape),
    r.candidate,
    r.scheduleKey ?? dash,
    r.timing ? sig3(r.timing.medianMs) : dash,
    r.tops !== undefined ? sig3(r.tops) : dash,
    r.topsAttention !== undefined ? sig3(r.topsAttention) : dash,
    r.speedupVsRule !== undefined ? `${r.speedupVsRule.toFixed(2)}×` : dash,
    r.sameAs?.join(', ') ?? '',
    r.status === 'ok' ? (r.timing?.timer ?? '') : `${r.status} ${r.error?.code ?? ''}`.trim(),
  ]);
}

export const BASELINE_COLUMNS = ['baseline', 'shape', 'timed', 'median ms', 'TOPS', 'status'];

export function baselineRows(schedules: SchedulesReport): string[][] {
  return schedules.baselines.map((b) => [
    b.name,
    shapeLabel(b.shape),
    b.when,
    b.timing ? sig3(b.timing.medianMs) : dash,
    b.tops !== undefined ? sig3(b.tops) : dash,
    b.status === 'ok' ? (b.timing?.timer ?? '') : `error ${b.error?.code ?? ''}`.trim(),
  ]);
}

/**
 * The headline lines: the correctness checks (how many agree with the CPU oracle, the worst distance, any that do
 * not) and, per algorithm and shape, the fastest candidate against the rule and against the faster f32 baseline median.
 */
export function scheduleSummary(schedules: SchedulesReport): string[] {
  const lines: string[] = [];
  const checked = schedules.checks.filter((c) => c.status === 'ok');
  const worst = Math.max(0, ...checked.map((c) => c.vsOracle ?? 0));
  const split = checked.filter((c) => c.bound !== undefined && c.bound !== schedules.checkBound).length;
  lines.push(
    `correctness: ${checked.filter((c) => c.pass).length} of ${schedules.checks.length} schedules agree with the CPU oracle within ${schedules.checkBound} ` +
      `relative L2 on ${shapeLabel(schedules.checkShape)} (worst ${worst.toExponential(2)})` +
      (split ? `; ${split} with a key tile smaller than blockN held to the split-P-block bound` : ''),
  );
  for (const c of schedules.checks) {
    if (c.status !== 'ok') lines.push(`  ${c.algorithm} ${c.candidate}: check failed (${c.error?.code}): ${c.error?.message}`);
    else if (!c.pass) lines.push(`  ${c.algorithm} ${c.candidate}: DISAGREES with the CPU oracle: ${c.vsOracle!.toExponential(2)} > ${c.bound} (not timed)`);
  }
  const groups = new Map<string, typeof schedules.rows>();
  for (const row of schedules.rows) {
    const key = `${row.algorithm} ${shapeLabel(row.shape)}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  for (const [key, rows] of groups) {
    const timed = rows.filter((r) => r.status === 'ok' && r.timing);
    if (timed.length === 0) continue;
    const best = timed.reduce((a, b) => (b.timing!.medianMs < a.timing!.medianMs ? b : a));
    const shape = shapeLabel(rows[0].shape);
    const baselineMs = schedules.baselines.filter((b) => shapeLabel(b.shape) === shape && b.timing).map((b) => b.timing!.medianMs);
    const vsBaseline = baselineMs.length ? `, ${(Math.min(...baselineMs) / best.timing!.medianMs).toFixed(2)}× the faster f32 baseline median` : '';
    lines.push(
      `${key}: fastest ${best.candidate}${best.scheduleKey ? ` (${best.scheduleKey})` : ''} ${sig3(best.timing!.medianMs)} ms, ${sig3(best.tops!)} TOPS, ` +
        `${best.speedupVsRule !== undefined ? `${best.speedupVsRule.toFixed(2)}× the rule` : 'rule not timed'}${vsBaseline}`,
    );
  }
  return lines;
}
