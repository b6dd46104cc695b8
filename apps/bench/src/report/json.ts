import { writeFile } from 'node:fs/promises';
import type { BenchReport } from './report.js';

/** Writes the report as pretty JSON (schema: schema/bench-report.schema.json). */
export async function writeJson(path: string, report: BenchReport): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
