import { shapeLabel } from '../metrics.js';
import type { BenchReport } from './report.js';
import type { CellResult } from '../sweep.js';

/** A number with 3 significant digits, without exponent notation for the usual ranges. */
export function sig3(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs < 1e-4) return value.toExponential(2);
  return Number(value.toPrecision(3)).toString();
}

const dash = '–';

/** A ratio as a percentage: 2 decimals, or 2 significant digits below 0.01% (a float baseline's error). */
export function percent(ratio: number): string {
  const value = ratio * 100;
  return value !== 0 && Math.abs(value) < 0.01 ? `${value.toExponential(1)}%` : `${value.toFixed(2)}%`;
}

/** Column headers shared by the terminal table and the markdown table. */
export const COLUMNS = ['algorithm', 'backend', 'shape', 'median ms', 'TOPS', 'quant ms', 'attn ms', 'rel L2', 'cos', 'timer / status'];

/** One table row of a cell; a failed cell shows its status and error code in the last column. */
export function cellRow(cell: CellResult): string[] {
  const t = cell.timing;
  const accuracy = cell.accuracy ? [percent(cell.accuracy.relL2), cell.accuracy.cos.toFixed(5)] : [cell.accuracyError ? 'n/a*' : dash, dash];
  // Unavailable/skipped cells explain themselves in the notes; a failure keeps its error code in the cell.
  const status = cell.status === 'ok' ? (t?.timer ?? '') : cell.status === 'error' ? `error ${cell.error?.code ?? ''}` : cell.status;
  return [
    cell.algorithm,
    cell.backend,
    shapeLabel(cell.shape),
    t ? sig3(t.medianMs) : dash,
    cell.tops !== undefined ? sig3(cell.tops) : dash,
    t?.quantMs !== undefined ? sig3(t.quantMs) : dash,
    t?.attnMs !== undefined ? sig3(t.attnMs) : dash,
    ...accuracy,
    status,
  ];
}

/** The distinct reasons behind non-ok cells and missing accuracies, one line each, for the notes under a table. */
export function notes(report: BenchReport): string[] {
  const lines = new Set<string>();
  for (const cell of report.cells) {
    if (cell.error) lines.add(`${cell.algorithm} ${cell.backend}: ${cell.status} (${cell.error.code}): ${cell.error.message}`);
    if (cell.accuracyError) lines.add(`${cell.algorithm} ${cell.backend}: accuracy n/a* (${cell.accuracyError.code}): ${cell.accuracyError.message}`);
  }
  return [...lines];
}

/** One line saying what the accuracy columns mean, with the sub-problems used. */
export function accuracyLegend(report: BenchReport): string {
  if (!report.config.accuracy.enabled) return 'accuracy: off (--no-accuracy)';
  const subs = new Set(report.cells.filter((c) => c.accuracy).map((c) => c.accuracy!.subProblem.description));
  return `accuracy vs @qattn/reference (float64), data ${report.config.inputs}, measured on: ${[...subs].join('; ') || 'no cell'}`;
}

/** A short machine summary line. */
export function machineLine(report: BenchReport): string {
  const m = report.machine;
  const gpus = m.gpus.length ? `, GPU ${m.gpus.map((g) => `${g.name}${g.driver ? ` (driver ${g.driver})` : ''}`).join(', ')}` : '';
  return `${m.cpu.model}, ${m.cpu.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${m.os.platform} ${m.os.release}${gpus}; node ${report.versions.node}; commit ${report.git.commit.slice(0, 12)}${report.git.dirty ? ' (dirty)' : ''}`;
}

/** Rows of the peers table (peer, shape, median ms, TOPS, rel L2 vs fp64, status). */
export const PEER_COLUMNS = ['peer', 'shape', 'median ms', 'TOPS', 'rel L2 (vs fp64)', 'status'];

export function peerRows(report: BenchReport): string[][] {
  return (report.peers?.cells ?? []).map((p) => [
    p.peer,
    shapeLabel(p.shape),
    p.medianMs !== undefined ? sig3(p.medianMs) : dash,
    p.tops !== undefined ? sig3(p.tops) : dash,
    p.accuracy ? percent(p.accuracy.relL2) : dash,
    p.status === 'ok' ? 'events' : `${p.status} ${p.error?.code ?? ''}: ${p.error?.message ?? ''}`,
  ]);
}

export const RATIO_COLUMNS = ['algorithm', 'backend', 'peer', 'shape', 'qattn ms', 'peer ms', 'qattn speedup'];

export function ratioRows(report: BenchReport): string[][] {
  return (report.peers?.ratios ?? []).map((r) => [
    r.algorithm,
    r.backend,
    r.peer,
    shapeLabel(r.shape),
    sig3(r.qattnMs),
    sig3(r.peerMs),
    `${r.speedup.toFixed(2)}×`,
  ]);
}
