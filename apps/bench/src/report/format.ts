import { type CellShape, shapeLabel } from '../metrics.js';
import type { BenchReport } from './report.js';
import { COPY_PEER, isSdpaPeer, PEER_NAMES, type PeerName, type QuantCopyRatio, quantCopyRatios } from '../peers.js';
import { quantBandwidthOf } from '../quant-traffic.js';
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

/**
 * A column of the cell table; `shown` drops columns no cell fills (e.g. peak memory on a CPU-only run). `options`:
 * the run's `--options`, for the columns whose value depends on them.
 */
interface Column {
  header: string;
  value: (cell: CellResult, options: Record<string, unknown>) => string;
  shown?: (cells: CellResult[], options: Record<string, unknown>) => boolean;
}

const CELL_COLUMNS: Column[] = [
  { header: 'algorithm', value: (c) => c.algorithm },
  { header: 'backend', value: (c) => c.backend },
  { header: 'shape', value: (c) => shapeLabel(c.shape) },
  // The kernel the backend says it ran (flash-int8 webgpu: dot4 or subgroup matrices, and why it fell back).
  { header: 'path', value: (c) => c.timing?.path ?? dash, shown: (cells) => cells.some((c) => c.timing?.path !== undefined) },
  { header: 'median ms', value: (c) => (c.timing ? sig3(c.timing.medianMs) : dash) },
  { header: 'TOPS', value: (c) => (c.tops !== undefined ? sig3(c.tops) : dash) },
  {
    header: 'kernel TOPS',
    value: (c) => (c.topsAttention !== undefined ? sig3(c.topsAttention) : dash),
    shown: (cells) => cells.some((c) => c.topsAttention !== undefined),
  },
  { header: 'quant ms', value: (c) => (c.timing?.quantMs !== undefined ? sig3(c.timing.quantMs) : dash) },
  {
    // The quantization pass as a bandwidth (quant-traffic.ts): the issue's "quantization as fast as a copy".
    header: 'quant GB/s',
    value: (c, options) => {
      const quant = quantBandwidthOf(c, options);
      return quant ? sig3(quant.quantGbps) : dash;
    },
    shown: (cells, options) => cells.some((c) => quantBandwidthOf(c, options) !== undefined),
  },
  { header: 'attn ms', value: (c) => (c.timing?.attnMs !== undefined ? sig3(c.timing.attnMs) : dash) },
  {
    // What quantization adds to the kernel: the issue-level "quantization ≤ 10% of attention at N = 16K".
    header: 'quant/attn',
    value: (c) => (c.timing?.quantMs !== undefined && c.timing.attnMs ? `${((100 * c.timing.quantMs) / c.timing.attnMs).toFixed(1)}%` : dash),
    shown: (cells) => cells.some((c) => c.timing?.quantMs !== undefined && c.timing.attnMs),
  },
  {
    header: 'peak MiB',
    value: (c) => (c.timing?.peakDeviceBytes !== undefined ? sig3(c.timing.peakDeviceBytes / 2 ** 20) : dash),
    shown: (cells) => cells.some((c) => c.timing?.peakDeviceBytes !== undefined),
  },
  { header: 'rel L2', value: (c) => (c.accuracy ? percent(c.accuracy.relL2) : c.accuracyError ? 'n/a*' : dash) },
  { header: 'cos', value: (c) => (c.accuracy ? c.accuracy.cos.toFixed(5) : dash) },
  {
    header: 'timer / status',
    // Unavailable/skipped cells explain themselves in the notes; a failure keeps its error code in the cell.
    value: (c) => (c.status === 'ok' ? (c.timing?.timer ?? '') : c.status === 'error' ? `error ${c.error?.code ?? ''}` : c.status),
  },
];

/** The header and rows of the cell table (terminal and markdown); `options`: the run's `--options`. */
export function cellTable(cells: CellResult[], options: Record<string, unknown> = {}): { head: string[]; rows: string[][] } {
  const columns = CELL_COLUMNS.filter((column) => !column.shown || column.shown(cells, options));
  return { head: columns.map((c) => c.header), rows: cells.map((cell) => columns.map((c) => c.value(cell, options))) };
}

/** What `quant GB/s` means, under the cell table of a run that shows it. */
export const QUANT_GBPS_LEGEND =
  'quant GB/s (cuda cells): the minimum bytes the quantization pass moves — fp32 Q, K, V read once; INT8 Q/K codes of the ' +
  'padded rows, their fp32 scales (K: a pair per key), V_t codes (fp16 for pv fp16) and V scales written — ÷ quant ms, ' +
  '10^9 bytes per second; re-reads for K/V smoothing means and per-block scales are not counted.';

/** The distinct reasons behind non-ok cells and missing accuracies, one line each, for the notes under a table. */
export function notes(report: BenchReport): string[] {
  const lines = new Set<string>();
  for (const cell of report.cells) {
    if (cell.error) lines.add(`${cell.algorithm} ${cell.backend}: ${cell.status} (${cell.error.code}): ${cell.error.message}`);
    if (cell.accuracyError) lines.add(`${cell.algorithm} ${cell.backend}: accuracy n/a* (${cell.accuracyError.code}): ${cell.accuracyError.message}`);
    if (cell.timing?.pathNote) lines.add(`${cell.algorithm} ${cell.backend}: path ${cell.timing.path ?? '?'}: ${cell.timing.pathNote}`);
  }
  return [...lines];
}

/** One line saying what the accuracy columns mean, with the sub-problems used. */
export function accuracyLegend(report: BenchReport): string {
  if (!report.config.accuracy.enabled) return 'accuracy: off (--no-accuracy)';
  const subs = [...new Set(report.cells.filter((c) => c.accuracy).map((c) => c.accuracy!.subProblem.description))];
  const shown = subs.length > 3 ? [...subs.slice(0, 3), `and ${subs.length - 3} more (cells[].accuracy.subProblem in the JSON)`] : subs;
  return `accuracy vs @qattn/reference (float64), data ${report.config.inputs}, measured on: ${shown.join('; ') || 'no cell'}`;
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
    // The copy is no attention: its column says GB/s instead.
    p.tops !== undefined ? sig3(p.tops) : p.gbps !== undefined ? `${sig3(p.gbps)} GB/s` : dash,
    p.accuracy ? percent(p.accuracy.relL2) : dash,
    p.status === 'ok' ? (p.timer ?? 'events') : `${p.status} ${p.error?.code ?? ''}`.trim(),
  ]);
}

/** The distinct reasons behind failed or skipped peer cells, for the notes under the peers table. */
export function peerNotes(report: BenchReport): string[] {
  const lines = new Set<string>();
  for (const p of report.peers?.cells ?? []) if (p.error) lines.add(`${p.peer}: ${p.status} (${p.error.code}): ${p.error.message}`);
  return [...lines];
}

/** Short names of the peers for column headers. */
const PEER_SHORT: Record<PeerName, string> = { 'sdpa-flash-fp16': 'flash fp16', 'sdpa-cudnn-bf16': 'cuDNN bf16', 'sdpa-math-fp32': 'math fp32' };

const ratio = (value: number | undefined) => (value !== undefined ? `${value.toFixed(2)}×` : dash);

/**
 * qattn against each peer, one row per GPU cell that has a peer of its shape: kernel and whole-call TOPS, then per
 * peer its TOPS and the two ratios (qattn kernel ÷ peer, qattn call ÷ peer; > 1: qattn is faster). The kernel ratio
 * is the README's "INT8 / flash" (the peers take fp16/bf16 inputs and quantize nothing); the call ratio includes
 * qattn's quantization of fp32 inputs.
 */
export function peerComparison(report: BenchReport): { head: string[]; rows: string[][] } {
  return comparisonTable(report, report.peers?.ratios ?? [], (report.peers?.cells ?? []).filter(isSdpaPeer), PEER_NAMES, PEER_SHORT, ['backend', (cell) => cell.backend]);
}

/** What a comparison table reads of a peer's ratios and cells (the SDPA peers' and onnxruntime-web's alike). */
interface ComparedRatio<P extends string> {
  algorithm: string;
  backend: string;
  peer: P;
  shape: CellShape;
  speedup: number;
  kernelSpeedup?: number;
}

/**
 * The ratio table of one kind of peer: per qattn cell with a peer of its shape, its kernel and call TOPS, then per
 * peer (in `names` order, those present) its TOPS and the two ratios. `second`: the column after the algorithm.
 */
export function comparisonTable<P extends string>(
  report: BenchReport,
  ratios: ComparedRatio<P>[],
  peerCells: Array<{ peer: P; shape: CellShape; tops?: number }>,
  names: readonly P[],
  short: Record<P, string>,
  [secondHead, second]: [string, (cell: BenchReport['cells'][number]) => string],
): { head: string[]; rows: string[][] } {
  const peers = names.filter((p) => ratios.some((r) => r.peer === p));
  const head = ['algorithm', secondHead, 'shape', 'kernel TOPS', 'call TOPS', ...peers.flatMap((p) => [`${short[p]} TOPS`, `kernel ÷ ${short[p]}`, `call ÷ ${short[p]}`])];
  const rows: string[][] = [];
  for (const cell of report.cells) {
    const mine = ratios.filter((r) => r.algorithm === cell.algorithm && r.backend === cell.backend && shapeLabel(r.shape) === shapeLabel(cell.shape));
    if (mine.length === 0) continue;
    const perPeer = peers.flatMap((p) => {
      const r = mine.find((m) => m.peer === p);
      const peerCell = peerCells.find((c) => c.peer === p && shapeLabel(c.shape) === shapeLabel(cell.shape));
      return [peerCell?.tops !== undefined ? sig3(peerCell.tops) : dash, ratio(r?.kernelSpeedup), ratio(r?.speedup)];
    });
    rows.push([cell.algorithm, second(cell), shapeLabel(cell.shape), cell.topsAttention !== undefined ? sig3(cell.topsAttention) : dash, cell.tops !== undefined ? sig3(cell.tops) : dash, ...perPeer]);
  }
  return { head, rows };
}

/**
 * The quantization-vs-copy ratios of a report: as the JSON has them, or computed from its cells and peers (a report
 * built in memory).
 */
export function quantCopyOf(report: BenchReport): QuantCopyRatio[] {
  return report.peers?.quantCopy ?? quantCopyRatios(report.cells, report.peers?.cells ?? [], report.config.options ?? {});
}

export const QUANT_COPY_COLUMNS = ['algorithm', 'shape', 'quant ms', 'quant MiB', 'quant GB/s', 'copy ms', 'copy MiB', 'copy GB/s', 'quant ÷ copy'];

/** One row per CUDA cell with a quantMs and a copy of its shape: the two bandwidths and their ratio. */
export function quantCopyRows(ratios: QuantCopyRatio[]): string[][] {
  return ratios.map((r) => [
    r.algorithm,
    shapeLabel(r.shape),
    sig3(r.quantMs),
    sig3(r.quantBytes / 2 ** 20),
    sig3(r.quantGbps),
    sig3(r.copyMs),
    sig3(r.copyBytes / 2 ** 20),
    sig3(r.copyGbps),
    `${r.ofCopy.toFixed(2)}×`,
  ]);
}

/** What the quant-vs-copy table means. */
export const QUANT_COPY_LEGEND =
  `quant GB/s: the quantization pass's minimum bytes (as in the cell table) ÷ quant ms. copy: ${COPY_PEER}, torch dst.copy_(src) of a uint8 ` +
  'buffer, device to device, as many bytes read plus written as the shape\'s quantization at the package defaults (INT8 P·V, 64-key V scale ' +
  'blocks), CUDA events, median; GB/s = 2 × the buffer\'s bytes ÷ its time, as the decode-cache copy counts. quant ÷ copy: 1.00× is a ' +
  'quantization as fast as a copy of its bytes.';
