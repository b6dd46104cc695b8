import { writeFile } from 'node:fs/promises';
import { quantBandwidthOf } from '../quant-traffic.js';
import { quantCopyOf } from './format.js';
import type { BenchReport } from './report.js';

/**
 * The report as the JSON has it: with the derived quantization bandwidth of every CUDA cell that has a quantMs
 * (`quantBytes`, `quantGbps`, quant-traffic.ts) and, with peers, the quantization-vs-copy ratios (`peers.quantCopy`).
 */
export function jsonReport(report: BenchReport): BenchReport {
  const options = report.config.options ?? {};
  const cells = report.cells.map((cell) => {
    const quant = quantBandwidthOf(cell, options);
    return quant ? { ...cell, ...quant } : cell;
  });
  return { ...report, cells, ...(report.peers ? { peers: { ...report.peers, quantCopy: quantCopyOf(report) } } : {}) };
}

/** Writes the report as pretty JSON (schema: schema/bench-report.schema.json). */
export async function writeJson(path: string, report: BenchReport): Promise<void> {
  await writeFile(path, `${JSON.stringify(jsonReport(report), null, 2)}\n`);
}
