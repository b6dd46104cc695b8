import { shapeLabel } from '../metrics.js';
import type { OverheadReport, OverheadRow } from '../overhead/run.js';
import type { LeakCheck } from '../overhead/stats.js';
import { sig3 } from './format.js';

const dash = '–';
const us = (value: number | undefined) => (value !== undefined ? sig3(value) : dash);
const mibDelta = (bytes: number | undefined) => (bytes !== undefined ? `${bytes >= 0 ? '+' : ''}${(bytes / 2 ** 20).toFixed(1)}` : dash);
const verdict = (pass: boolean | undefined) => (pass === undefined ? dash : pass ? 'pass' : 'FAIL');

/** Columns of the overhead table: one row per (algorithm, backend, entry). */
export const OVERHEAD_COLUMNS = [
  'algorithm',
  'backend',
  'shape',
  'entry',
  'calls',
  'wall µs (median)',
  'p90 µs',
  'kernel µs',
  'host overhead µs',
  'target µs',
  'overhead',
  'Δ live buffers',
  'Δ device MiB (2nd half)',
  'Δ RSS MiB (2nd half)',
  'leak',
];

/** `+62.3 (+0.4)`: growth over all the calls, and over their second half (the part the verdict judges). */
function withSecondHalf(total: number | undefined, secondHalf: number | undefined): string {
  return secondHalf === undefined ? mibDelta(total) : `${mibDelta(total)} (${mibDelta(secondHalf)})`;
}

function leakCells(leak: LeakCheck | undefined): string[] {
  if (!leak) return [dash, dash, dash, dash];
  return [
    leak.liveBuffersDelta !== undefined ? `${leak.liveBuffersDelta >= 0 ? '+' : ''}${leak.liveBuffersDelta}` : dash,
    withSecondHalf(leak.deviceBytesDelta, leak.deviceBytesDeltaSecondHalf),
    withSecondHalf(leak.rssBytesDelta, leak.rssBytesDeltaSecondHalf),
    verdict(leak.pass),
  ];
}

/** The rows of the overhead table; an unavailable or failed subject gets one row with its status. */
export function overheadRows(overhead: OverheadReport): string[][] {
  const rows: string[][] = [];
  for (const row of overhead.rows) {
    const lead = [row.algorithm, row.backend, shapeLabel(row.shape)];
    if (row.entries.length === 0) {
      rows.push([...lead, dash, dash, dash, dash, dash, dash, dash, row.status === 'unavailable' ? 'unavailable' : `error ${row.error?.code ?? ''}`.trim(), dash, dash, dash, dash]);
      continue;
    }
    for (const entry of row.entries) {
      if (entry.status !== 'ok' || !entry.wall) {
        rows.push([...lead, entry.entry, dash, dash, dash, us(row.kernel?.medianUs), dash, dash, `${entry.status} ${entry.error?.code ?? ''}`.trim(), dash, dash, dash, dash]);
        continue;
      }
      rows.push([
        ...lead,
        entry.entry,
        String(entry.wall.calls),
        us(entry.wall.medianUs),
        us(entry.wall.p90Us),
        us(row.kernel?.medianUs),
        us(entry.hostOverheadUs),
        entry.targetUs !== undefined ? `≤ ${entry.targetUs}` : dash,
        verdict(entry.pass),
        ...leakCells(entry.leak),
      ]);
    }
  }
  return rows;
}

function describeFinal(row: OverheadRow): string | undefined {
  if (!row.final) return undefined;
  const { leak, released } = row.final;
  const what = released ? `after ${released}` : 'without a way to release cached plans (nothing judged)';
  const parts = [
    leak.liveBuffersDelta !== undefined ? `${leak.liveBuffersDelta} live buffers` : undefined,
    leak.deviceBytesDelta !== undefined ? `${mibDelta(leak.deviceBytesDelta)} MiB device memory` : undefined,
    `${mibDelta(leak.rssBytesDelta)} MiB RSS (not judged: allocators keep their high-water mark)`,
  ].filter(Boolean);
  return `${row.algorithm} ${row.backend}: ${what}, against before the first call: ${parts.join(', ')} — ${verdict(leak.pass)}${leak.failures.length ? ` (${leak.failures.join('; ')})` : ''}`;
}

/** Lines under the table: why rows did not run, errors, leak failures, and the state after releasing everything. */
export function overheadNotes(overhead: OverheadReport): string[] {
  const lines: string[] = [];
  for (const row of overhead.rows) {
    if (row.error) lines.push(`${row.algorithm} ${row.backend}: ${row.status} (${row.error.code}): ${row.error.message}`);
    if (row.kernelError) lines.push(`${row.algorithm} ${row.backend}: kernel time unavailable (${row.kernelError.code}): ${row.kernelError.message}`);
    for (const entry of row.entries) {
      if (entry.error) lines.push(`${row.algorithm} ${row.backend} ${entry.entry}: ${entry.status} (${entry.error.code}): ${entry.error.message}`);
      for (const failure of entry.leak?.failures ?? []) lines.push(`${row.algorithm} ${row.backend} ${entry.entry}: leak: ${failure}`);
    }
    const final = describeFinal(row);
    if (final) lines.push(final);
  }
  return lines;
}

/** One line: the targets and how many measured rows meet them. */
export function overheadSummary(overhead: OverheadReport): string {
  const targets = Object.entries(overhead.targets)
    .map(([backend, t]) => `${backend}: ${Object.entries(t ?? {}).map(([entry, value]) => `${entry} ≤ ${value} µs`).join(', ')}`)
    .join('; ');
  const measured = overhead.rows.filter((r) => r.pass !== undefined);
  const passed = measured.filter((r) => r.pass).length;
  const { warmup, calls, kernelRepeats } = overhead.settings;
  const verdictText = measured.length === 0 ? 'nothing measured (no GPU backend loads here)' : `${passed} of ${measured.length} measured rows pass`;
  return (
    `host overhead = median wall time of ${calls} sequential awaited calls (after ${warmup} warm-up calls) − median kernel time ` +
    `(benchmark hook, ${kernelRepeats} repeats); targets ${targets || 'none'}; ${verdictText}`
  );
}
