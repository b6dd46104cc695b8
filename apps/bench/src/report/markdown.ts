import { writeFile } from 'node:fs/promises';
import { accuracyLegend, cellTable, machineLine, notes, PEER_COLUMNS, peerNotes, peerRows, RATIO_COLUMNS, ratioRows } from './format.js';
import type { BenchReport } from './report.js';

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The report as markdown: command, machine, the cell table, legend and notes, then peers and ratios. */
export function renderMarkdown(report: BenchReport): string {
  const parts = [
    `# qattn-bench: preset \`${report.config.preset}\``,
    `Command: \`qattn-bench ${report.command.join(' ')}\``,
    `Machine: ${machineLine(report)}`,
    `Started ${report.startedAt}, ${report.durationS.toFixed(1)} s; warmup ${report.config.warmup}, repeats ${report.config.repeats}, median reported; TOPS = ${report.config.opsFormula}.`,
    markdownTable(cellTable(report.cells).head, cellTable(report.cells).rows),
    accuracyLegend(report),
  ];
  const cellNotes = notes(report);
  if (cellNotes.length) parts.push(`Notes:\n\n${cellNotes.map((n) => `- ${escapeCell(n)}`).join('\n')}`);
  if (report.peers) {
    const p = report.peers;
    parts.push(`## Peers (PyTorch SDPA)\n\nStatus: ${p.status}${p.reason ? ` — ${p.reason}` : ''}${p.device ? `; ${p.device}, torch ${p.torch}${p.cudaRuntime ? `, CUDA ${p.cudaRuntime}` : ''}` : ''}`);
    if (p.cells.length) parts.push(markdownTable(PEER_COLUMNS, peerRows(report)));
    const notesOfPeers = peerNotes(report);
    if (notesOfPeers.length) parts.push(notesOfPeers.map((n) => `- ${escapeCell(n)}`).join('\n'));
    if (p.ratios.length) parts.push(`### qattn / peer\n\n${markdownTable(RATIO_COLUMNS, ratioRows(report))}`);
  }
  return `${parts.join('\n\n')}\n`;
}

export async function writeMarkdown(path: string, report: BenchReport): Promise<void> {
  await writeFile(path, renderMarkdown(report));
}
