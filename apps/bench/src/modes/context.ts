import { readFileSync } from 'node:fs';
import { gitInfo, machineInfo, versions } from '../machine.js';
import type { AlgorithmId, BackendName, DataKind, Mode, PresetName } from '../presets.js';
import { writeJson } from '../report/json.js';
import { writeMarkdown } from '../report/markdown.js';
import { ACCURACY_METHOD, type BenchReport, OPS_FORMULA, REPORT_SCHEMA_VERSION } from '../report/report.js';
import { renderTable } from '../report/table.js';
import type { CacheKindName } from '../decode-cache/kinds.js';
import type { SweepConfig } from '../sweep.js';

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Draw the progress bar (stderr must be a TTY as well). */
  progressStream?: NodeJS.WriteStream;
}

/** A flag combination that parses but cannot be run (e.g. no valid shape left in the grid). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit codes: 0 done, 1 usage error, 3 `--strict` (or the sanitize workload) and something failed. */
export const EXIT_USAGE = 1;
export const EXIT_CELL_ERRORS = 3;

/** Everything a run needs, resolved from the preset and the flags. */
export interface RunConfig extends SweepConfig {
  preset: PresetName;
  mode: Mode;
  data: DataKind;
  /** `--options`: added to every kernel algorithm's calls. */
  extraOptions: Record<string, unknown>;
  /** `overhead`: sequential calls per entry; `decode-cache`: sequential device-resident steps. */
  calls: number;
  /** `decode-cache`: the cache kinds. */
  caches?: CacheKindName[];
  /** `schedules`: candidate label prefixes (undefined: every candidate). */
  candidates?: string[];
}

/** What the outputs of a run need besides the config: where to write and whether to render plots. */
export interface OutputOptions {
  json?: string;
  md?: string;
  plot?: string;
  progress: boolean;
  peers?: boolean;
  python?: string;
  strict?: boolean;
}

/** One run of the CLI: its command line, config, outputs and clock. */
export interface RunContext {
  argv: string[];
  config: RunConfig;
  output: OutputOptions;
  io: CliIo;
  startedAt: Date;
}

/**
 * The bench's own version: its package.json, one folder above dist/index.js (built) or two above this file (vitest);
 * on the GPU host, where the bundle sits beside a stand-in package.json, the staged QATTN_BENCH_VERSION.
 */
export function readVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === '@qattn/bench') return pkg.version;
    } catch {
      // Not there: try the next candidate.
    }
  }
  return process.env.QATTN_BENCH_VERSION ?? '0.0.0';
}

/** The fields every mode fills in: what was swept, on which backends, with which inputs. */
export interface ReportBody {
  sweptBackends: BackendName[];
  inputs: string;
  backends: BenchReport['backends'];
  cells?: BenchReport['cells'];
  peers?: BenchReport['peers'];
  ortWeb?: BenchReport['ortWeb'];
  overhead?: BenchReport['overhead'];
  schedules?: BenchReport['schedules'];
  sanitize?: BenchReport['sanitize'];
  decodeCache?: BenchReport['decodeCache'];
}

/** Assembles the report of a run: machine, versions, commit, config, and the mode's results. */
export function buildReport(ctx: RunContext, body: ReportBody): BenchReport {
  const { config } = ctx;
  const finishedAt = new Date();
  const machine = machineInfo();
  // Without nvidia-smi (containers), torch still names the GPU the peers ran on.
  if (machine.gpus.length === 0 && body.peers?.device) machine.gpus.push({ name: body.peers.device, source: 'torch' });
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: { name: '@qattn/bench', version: readVersion() },
    command: ctx.argv,
    startedAt: ctx.startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: (finishedAt.getTime() - ctx.startedAt.getTime()) / 1000,
    machine,
    versions: versions(),
    git: gitInfo(),
    config: {
      preset: config.preset,
      mode: config.mode,
      algorithms: config.algorithms as AlgorithmId[],
      backends: config.backends,
      sweptBackends: body.sweptBackends,
      warmup: config.warmup,
      warmupMs: config.warmupMs,
      repeats: config.repeats,
      seed: config.seed,
      data: config.data,
      inputs: body.inputs,
      accuracy: { enabled: config.accuracy, maxRows: config.accuracyRows, method: ACCURACY_METHOD },
      cpuMaxGop: config.cpuMaxGop,
      opsFormula: OPS_FORMULA,
      ...(Object.keys(config.extraOptions).length ? { options: config.extraOptions } : {}),
      ...(config.mode === 'overhead' ? { calls: config.calls } : {}),
      ...(config.mode === 'schedules' && config.candidates ? { candidates: config.candidates } : {}),
    },
    backends: body.backends,
    cells: body.cells ?? [],
    ...(body.peers ? { peers: body.peers } : {}),
    ...(body.ortWeb ? { ortWeb: body.ortWeb } : {}),
    ...(body.overhead ? { overhead: body.overhead } : {}),
    ...(body.schedules ? { schedules: body.schedules } : {}),
    ...(body.sanitize ? { sanitize: body.sanitize } : {}),
    ...(body.decodeCache ? { decodeCache: body.decodeCache } : {}),
  };
}

/** Prints the table and writes whichever of --json, --md and --plot were asked for. */
export async function writeOutputs(report: BenchReport, output: OutputOptions, io: CliIo): Promise<void> {
  io.stdout(`${renderTable(report)}\n`);
  if (output.json) {
    await writeJson(output.json, report);
    io.stdout(`wrote ${output.json}\n`);
  }
  if (output.md) {
    await writeMarkdown(output.md, report);
    io.stdout(`wrote ${output.md}\n`);
  }
  if (output.plot) {
    if (report.cells.length === 0) {
      io.stdout(`no plots: preset ${report.config.preset} has no sweep cells to plot\n`);
      return;
    }
    // Loaded on demand: vega and resvg are large and the GPU host bundle leaves them out.
    const { writePlots } = await import('../report/plot.js');
    const files = await writePlots(output.plot, report);
    io.stdout(`wrote ${files.filter((f) => !f.endsWith('.vl.json')).join(', ')}\n`);
  }
}
