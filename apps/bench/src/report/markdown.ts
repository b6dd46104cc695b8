import { writeFile } from 'node:fs/promises';
import { machineLine } from './format.js';
import type { BenchReport } from './report.js';
import { reportSections } from './sections.js';

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The report as markdown: command, machine, then every section (heading, text, table, notes). */
export function renderMarkdown(report: BenchReport): string {
  const parts = [
    `# qattn-bench: preset \`${report.config.preset}\``,
    `Command: \`qattn-bench ${report.command.join(' ')}\``,
    `Machine: ${machineLine(report)}`,
    `Started ${report.startedAt}, ${report.durationS.toFixed(1)} s; warmup ${report.config.warmup}${report.config.warmupMs ? ` (≥ ${report.config.warmupMs} ms on GPUs)` : ''}, repeats ${report.config.repeats}, median reported` +
      (report.config.mode === 'decode-cache' ? '.' : `; TOPS = ${report.config.opsFormula}.`),
  ];
  for (const section of reportSections(report)) {
    if (section.title) parts.push(`## ${section.title}`);
    if (section.intro?.length) parts.push(section.intro.join('\n\n'));
    if (section.table) parts.push(markdownTable(section.table.head, section.table.rows));
    if (section.legend?.length) parts.push(section.legend.join('\n\n'));
    if (section.notes?.length) parts.push(`Notes:\n\n${section.notes.map((n) => `- ${escapeCell(n)}`).join('\n')}`);
  }
  return `${parts.join('\n\n')}\n`;
}

export async function writeMarkdown(path: string, report: BenchReport): Promise<void> {
  await writeFile(path, renderMarkdown(report));
}
