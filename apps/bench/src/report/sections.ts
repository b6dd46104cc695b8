import { decodeCacheSections } from './decode-cache.js';
import {
  accuracyLegend,
  cellTable,
  notes,
  PEER_COLUMNS,
  peerComparison,
  peerNotes,
  peerRows,
  QUANT_COPY_COLUMNS,
  QUANT_COPY_LEGEND,
  QUANT_GBPS_LEGEND,
  quantCopyOf,
  quantCopyRows,
} from './format.js';
import { ortWebSections } from './ort-web.js';
import { OVERHEAD_COLUMNS, overheadNotes, overheadRows, overheadSummary } from './overhead.js';
import type { BenchReport } from './report.js';
import { BASELINE_COLUMNS, baselineRows, SCHEDULE_COLUMNS, scheduleRows, scheduleSummary } from './schedules.js';

/** One block of a rendered report: a heading, text above the table, the table, text and notes under it. */
export interface Section {
  title?: string;
  intro?: string[];
  table?: { head: string[]; rows: string[][] };
  legend?: string[];
  notes?: string[];
}

/** The sections of a report in reading order, shared by the terminal table and the markdown renderer. */
export function reportSections(report: BenchReport): Section[] {
  const sections: Section[] = [];
  const mode = report.config.mode ?? 'sweep';
  if (mode === 'sweep' || report.cells.length > 0) {
    const table = cellTable(report.cells, report.config.options ?? {});
    const legend = [accuracyLegend(report), ...(table.head.includes('quant GB/s') ? [QUANT_GBPS_LEGEND] : [])];
    sections.push({ table, legend, notes: notes(report) });
  }
  if (report.peers) {
    const p = report.peers;
    const where = p.device ? ` on ${p.device}, torch ${p.torch}${p.cudaRuntime ? `, CUDA ${p.cudaRuntime}` : ''}` : '';
    sections.push({
      title: 'Peers (PyTorch SDPA)',
      intro: [`peers (PyTorch SDPA via ${p.python}): ${p.status}${p.reason ? ` — ${p.reason}` : ''}${where}`],
      ...(p.cells.length ? { table: { head: PEER_COLUMNS, rows: peerRows(report) } } : {}),
      notes: peerNotes(report),
    });
    if (p.ratios.length) {
      sections.push({
        title: 'qattn ÷ peer',
        intro: ['Ratios above 1: qattn is faster. kernel = the attention kernel on quantized inputs; call = the whole call, quantization of fp32 inputs included.'],
        table: peerComparison(report),
      });
    }
    const quantCopy = quantCopyOf(report);
    if (quantCopy.length) {
      sections.push({ title: 'Quantization ÷ device copy', table: { head: QUANT_COPY_COLUMNS, rows: quantCopyRows(quantCopy) }, legend: [QUANT_COPY_LEGEND] });
    }
  }
  sections.push(...ortWebSections(report));
  if (report.overhead) {
    sections.push({
      title: 'Host overhead and leaks',
      intro: [overheadSummary(report.overhead)],
      table: { head: OVERHEAD_COLUMNS, rows: overheadRows(report.overhead) },
      notes: overheadNotes(report.overhead),
    });
  }
  if (report.schedules) {
    const s = report.schedules;
    const adapter = s.device ? [`adapter: ${JSON.stringify(s.device)}`] : [];
    sections.push({ title: 'WebGPU schedule sweep', intro: [...adapter, ...scheduleSummary(s)], table: { head: SCHEDULE_COLUMNS, rows: scheduleRows(s) } });
    if (s.baselines.length) sections.push({ title: 'Float baseline (before and after each shape)', table: { head: BASELINE_COLUMNS, rows: baselineRows(s) } });
  }
  if (report.decodeCache) sections.push(...decodeCacheSections(report.decodeCache));
  if (report.sanitize) {
    const results = report.sanitize.results;
    const count = (status: string) => results.filter((r) => r.status === status).length;
    sections.push({
      title: 'Sanitizer workload',
      intro: [`${results.length} calls: ${count('ok')} ok, ${count('failed')} failed, ${count('unsupported')} unsupported by the backend`],
      notes: results.filter((r) => r.status !== 'ok').map((r) => `${r.algorithm} ${r.entry} ${r.label}: ${r.status} (${r.error?.code}): ${r.error?.message}`),
    });
  }
  return sections;
}
