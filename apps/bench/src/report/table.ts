import Table from 'cli-table3';
import { accuracyLegend, cellTable, machineLine, notes, PEER_COLUMNS, peerNotes, peerRows, RATIO_COLUMNS, ratioRows } from './format.js';
import type { BenchReport } from './report.js';

function render(head: string[], rows: string[][]): string {
  const table = new Table({ head, style: { head: [], border: [], compact: true } });
  table.push(...rows);
  return table.toString();
}

/** The readable end-of-run summary: machine, cell table, accuracy legend, notes, peers and ratios. */
export function renderTable(report: BenchReport): string {
  const cellsTable = cellTable(report.cells);
  const parts = [machineLine(report), render(cellsTable.head, cellsTable.rows), accuracyLegend(report)];
  const cellNotes = notes(report);
  if (cellNotes.length) parts.push(`notes:\n${cellNotes.map((n) => `  - ${n}`).join('\n')}`);
  if (report.peers) {
    const p = report.peers;
    const header = `peers (PyTorch SDPA via ${p.python}): ${p.status}${p.reason ? ` — ${p.reason}` : ''}${p.device ? ` on ${p.device}, torch ${p.torch}` : ''}`;
    parts.push(header);
    if (p.cells.length) parts.push(render(PEER_COLUMNS, peerRows(report)));
    const notesOfPeers = peerNotes(report);
    if (notesOfPeers.length) parts.push(`peer notes:\n${notesOfPeers.map((n) => `  - ${n}`).join('\n')}`);
    if (p.ratios.length) parts.push(render(RATIO_COLUMNS, ratioRows(report)));
  }
  return parts.join('\n');
}
