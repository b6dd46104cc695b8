import Table from 'cli-table3';
import { machineLine } from './format.js';
import type { BenchReport } from './report.js';
import { reportSections } from './sections.js';

function render(head: string[], rows: string[][]): string {
  const table = new Table({ head, style: { head: [], border: [], compact: true } });
  table.push(...rows);
  return table.toString();
}

/** The readable end-of-run summary: the machine line, then every section (tables, legends, notes). */
export function renderTable(report: BenchReport): string {
  const parts = [machineLine(report)];
  for (const section of reportSections(report)) {
    if (section.title) parts.push(`${section.title}:`);
    if (section.intro?.length) parts.push(section.intro.join('\n'));
    if (section.table) parts.push(render(section.table.head, section.table.rows));
    if (section.legend?.length) parts.push(section.legend.join('\n'));
    if (section.notes?.length) parts.push(`notes:\n${section.notes.map((n) => `  - ${n}`).join('\n')}`);
  }
  return parts.join('\n');
}
