import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { createAlgorithms } from './algorithms.js';
import { createInputSource } from './inputs.js';
import { gitInfo, machineInfo, versions } from './machine.js';
import { loadKernelPackages, loadReferencePackage } from './packages.js';
import { peerRatios, runPeers } from './peers.js';
import {
  ALGORITHM_IDS,
  type AlgorithmId,
  BACKEND_NAMES,
  type BackendName,
  DATA_KINDS,
  type DataKind,
  expandGrid,
  PRESET_NAMES,
  type PresetName,
  PRESETS,
  type ShapeGrid,
} from './presets.js';
import { createProgressBar } from './progress.js';
import { writeJson } from './report/json.js';
import { writeMarkdown } from './report/markdown.js';
import { ACCURACY_METHOD, type BenchReport, OPS_FORMULA, REPORT_SCHEMA_VERSION } from './report/report.js';
import { renderTable } from './report/table.js';
import { type BackendReport, probeBackends, runSweep, type SweepConfig, sweptBackends } from './sweep.js';

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

/** Exit codes: 0 done, 1 usage error, 3 `--strict` and some cell failed. */
export const EXIT_USAGE = 1;
export const EXIT_CELL_ERRORS = 3;

/** Parses `1024`, `4k`, `16K` (k = 1024) as a positive integer. */
export function parsePositiveInt(text: string): number {
  const match = /^(\d+)([kK])?$/.exec(text.trim());
  const value = match ? Number(match[1]) * (match[2] ? 1024 : 1) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`'${text}' is not a positive integer (k = 1024 allowed)`);
  return value;
}

function parseNonNegativeInt(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`'${text}' is not a non-negative integer`);
  return Number(text);
}

function parsePositiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`'${text}' is not a positive number`);
  return value;
}

const listOf =
  <T>(parse: (item: string) => T) =>
  (text: string): T[] => {
    const items = text.split(',').map((s) => s.trim());
    if (items.some((s) => s === '')) throw new InvalidArgumentError(`'${text}' is not a comma-separated list`);
    return [...new Set(items.map(parse))];
  };

const oneOf =
  <T extends string>(allowed: readonly T[], what: string) =>
  (item: string): T => {
    if (!(allowed as readonly string[]).includes(item)) throw new InvalidArgumentError(`unknown ${what} '${item}' (choose from ${allowed.join(', ')})`);
    return item as T;
  };

function parseCausal(text: string): boolean[] {
  if (text === 'both') return [false, true];
  return listOf((item) => {
    if (['true', 'yes', '1', 'causal'].includes(item)) return true;
    if (['false', 'no', '0', 'none'].includes(item)) return false;
    throw new InvalidArgumentError(`'${item}' is not true/false (or use 'both')`);
  })(text);
}

function parseAlgorithms(text: string): AlgorithmId[] {
  if (text === 'all') return [...ALGORITHM_IDS];
  return listOf(oneOf(ALGORITHM_IDS, 'algorithm'))(text);
}

function parseBackends(text: string): BackendName[] | 'auto' {
  if (text === 'auto') return 'auto';
  return listOf(oneOf(BACKEND_NAMES, 'backend'))(text);
}

const int = parsePositiveInt;
const ints = listOf(parsePositiveInt);

/** The parsed flags (commander's camel-cased names). */
export interface CliOptions {
  preset: PresetName;
  algorithms: AlgorithmId[];
  backends: BackendName[] | 'auto';
  batch?: number[];
  heads?: number[];
  kvHeads?: number[];
  seq?: number[];
  seqQ?: number[];
  seqKv?: number[];
  headDim?: number[];
  causal?: boolean[];
  warmup?: number;
  repeats?: number;
  seed: number;
  data: DataKind;
  accuracy: boolean;
  accuracyRows: number;
  cpuMaxGop?: number;
  json?: string;
  md?: string;
  plot?: string;
  peers?: boolean;
  python?: string;
  progress: boolean;
  strict?: boolean;
  fromJson?: string;
}

/** Builds the commander program (also used to print --help in the README). */
export function createProgram(io: CliIo): Command {
  return new Command('qattn-bench')
    .description(
      'Benchmark quantized attention (INT-FlashAttention, TurboAttention) against a float baseline on every available ' +
        'backend: median time, TOPS, quantization time, peak device memory and accuracy vs the float64 reference.',
    )
    .version(readVersion(), '-V, --version')
    .addOption(new Option('-p, --preset <name>', 'shape grid and repeats to start from (see Presets below)').choices(PRESET_NAMES).default('quick'))
    .addOption(new Option('-a, --algorithms <list>', `comma list of ${ALGORITHM_IDS.join(', ')}, or all`).argParser(parseAlgorithms).default([...ALGORITHM_IDS], 'all'))
    .addOption(new Option('-b, --backends <list>', `comma list of ${BACKEND_NAMES.join(', ')}, or auto (every available one)`).argParser(parseBackends).default('auto'))
    .addOption(new Option('--batch <list>', 'batch sizes (overrides the preset)').argParser(ints))
    .addOption(new Option('--heads <list>', 'query heads').argParser(ints))
    .addOption(new Option('--kv-heads <list>', 'kv heads (must divide heads; default = heads)').argParser(ints))
    .addOption(new Option('--seq <list>', 'sequence lengths with seqQ = seqKV, e.g. 1k,4k').argParser(ints).conflicts(['seqQ', 'seqKv']))
    .addOption(new Option('--seq-q <list>', 'query lengths, swept independently of --seq-kv').argParser(ints))
    .addOption(new Option('--seq-kv <list>', 'key/value lengths').argParser(ints))
    .addOption(new Option('--head-dim <list>', 'head dimensions').argParser(ints))
    .addOption(new Option('--causal <list>', 'true, false, or both (bottom-right aligned mask)').argParser(parseCausal))
    .addOption(new Option('--warmup <n>', 'unrecorded calls per cell (default: preset)').argParser(parseNonNegativeInt))
    .addOption(new Option('--repeats <n>', 'recorded calls per cell; the median is reported (default: preset)').argParser(int))
    .addOption(new Option('--seed <n>', 'seed of the input generator').argParser(parseNonNegativeInt).default(1))
    .addOption(new Option('--data <kind>', 'input distribution of @qattn/reference').choices(DATA_KINDS).default('llm'))
    .option('--no-accuracy', 'skip the accuracy check against @qattn/reference')
    .addOption(new Option('--accuracy-rows <n>', 'most query rows of the accuracy sub-problem').argParser(int).default(128))
    .addOption(new Option('--cpu-max-gop <n>', 'skip cpu cells above this many giga-operations (default: preset)').argParser(parsePositiveNumber))
    .option('--json <file>', 'write every number, the machine, versions and commit as JSON')
    .option('--md <file>', 'write the tables as markdown')
    .option('--plot <dir>', 'write TOPS-vs-sequence and accuracy plots (SVG, PNG, vega-lite spec) into dir')
    .option('--peers', 'also run PyTorch SDPA (flash fp16, cuDNN bf16, math fp32) on the same shapes, when torch+CUDA are there')
    .option('--no-peers', 'cancel an earlier --peers (e.g. the one gpu/run-on-gpu-host.sh passes)')
    .option('--python <bin>', 'python interpreter for --peers (default: $QATTN_PYTHON or python3)')
    .option('--no-progress', 'no progress bar (it is also off when stderr is not a terminal)')
    .option('--strict', `exit ${EXIT_CELL_ERRORS} when any cell ends in an error`)
    .option('--from-json <file>', 'run nothing: re-render the table, --md and --plot from a saved --json report')
    .addHelpText('after', presetsHelp())
    .showHelpAfterError('(run qattn-bench --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}

/** The "Presets" and "Examples" sections of --help, written from the preset table itself. */
function presetsHelp(): string {
  const list = (values: number[] | 'same') => (values === 'same' ? '=heads' : values.map((v) => (v >= 1024 && v % 1024 === 0 ? `${v / 1024}K` : `${v}`)).join('/'));
  const lines = PRESET_NAMES.map((name) => {
    const { grid, warmup, repeats, cpuMaxGop, description } = PRESETS[name];
    const seq = grid.seqQ === 'same' ? `N ${list(grid.seqKV)}` : `seqQ ${list(grid.seqQ)}, seqKV ${list(grid.seqKV)}`;
    const causal = grid.causal.length === 2 ? 'causal and not' : grid.causal[0] ? 'causal' : 'not causal';
    const kv = grid.kvHeads === 'same' ? '' : `/${list(grid.kvHeads)}`;
    return (
      `  ${name.padEnd(7)} B${list(grid.batch)} H${list(grid.heads)}${kv} D${list(grid.headDim)}, ${seq}, ${causal}; ` +
      `warmup ${warmup}, repeats ${repeats}, cpu cells up to ${cpuMaxGop} GOP\n          ${description}`
    );
  });
  return [
    '',
    'Presets (explicit flags override their axes):',
    ...lines,
    '',
    'Examples:',
    '  qattn-bench                                   quick sweep, table with time and accuracy',
    '  qattn-bench --seq 1k,4k --head-dim 128 --causal both --json out.json --md out.md --plot plots/',
    '  qattn-bench --preset paper --backends cuda --peers --json h200.json',
    '  qattn-bench --preset decode --kv-heads 1,8',
  ].join('\n');
}

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return process.env.QATTN_BENCH_VERSION ?? '0.0.0';
  }
}

/** Turns the flags into a sweep config: the preset, then every explicit flag on top. */
export function resolveConfig(options: CliOptions): { config: SweepConfig; dropped: string[] } {
  const preset = PRESETS[options.preset];
  const grid: ShapeGrid = { ...preset.grid };
  if (options.batch) grid.batch = options.batch;
  if (options.heads) grid.heads = options.heads;
  if (options.kvHeads) grid.kvHeads = options.kvHeads;
  if (options.seq) {
    grid.seqKV = options.seq;
    grid.seqQ = 'same';
  }
  if (options.seqKv) grid.seqKV = options.seqKv;
  if (options.seqQ) grid.seqQ = options.seqQ;
  if (options.headDim) grid.headDim = options.headDim;
  if (options.causal) grid.causal = options.causal;
  const { shapes, dropped } = expandGrid(grid);
  if (shapes.length === 0) {
    throw new UsageError(`no valid shape in the grid (${dropped.join('; ')})`);
  }
  return {
    config: {
      shapes,
      algorithms: options.algorithms,
      backends: options.backends,
      warmup: options.warmup ?? preset.warmup,
      repeats: options.repeats ?? preset.repeats,
      seed: options.seed,
      accuracy: options.accuracy,
      accuracyRows: options.accuracyRows,
      cpuMaxGop: options.cpuMaxGop ?? preset.cpuMaxGop,
    },
    dropped,
  };
}

/** "cpu: flash-int8-pv-int8, … | webgpu: unavailable (reason)": the backend status printed before the sweep. */
export function describeBackends(report: BackendReport[]): string[] {
  return BACKEND_NAMES.map((backend) => {
    const rows = report.filter((r) => r.backend === backend);
    const available = rows.filter((r) => r.available).map((r) => r.algorithm);
    const reasons = [...new Set(rows.filter((r) => !r.available && r.algorithm !== 'float32').map((r) => r.reason ?? 'unavailable'))];
    const parts = [available.length ? `available for ${available.join(', ')}` : 'unavailable'];
    if (reasons.length) parts.push(`${available.length ? 'not for the others: ' : ''}${reasons.join('; ')}`);
    return `  ${backend.padEnd(7)} ${parts.join('; ')}`;
  });
}

/**
 * Runs the CLI with `argv` (the arguments after the script). Returns the exit code instead of exiting so tests can
 * run it in-process.
 */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const program = createProgram(io);
  let options: CliOptions;
  let resolved: ReturnType<typeof resolveConfig>;
  try {
    program.parse(argv, { from: 'user' });
    options = program.opts<CliOptions>();
    resolved = resolveConfig(options);
  } catch (err) {
    // Commander has already printed its own errors (and --help / --version, which exit 0).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    if (err instanceof UsageError) {
      io.stderr(`error: ${err.message}\n(run qattn-bench --help for usage)\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  if (options.fromJson) return rerender(options, io);
  const { config, dropped } = resolved;
  const startedAt = new Date();

  const [packages, reference] = await Promise.all([loadKernelPackages(), loadReferencePackage()]);
  const algorithms = createAlgorithms(packages);
  const inputs = createInputSource(reference, options.data);
  const selected = algorithms.filter((a) => config.algorithms.includes(a.id));
  const backendReport = await probeBackends(selected);
  const swept = sweptBackends(config.backends, backendReport);

  io.stdout(
    `qattn-bench: preset ${options.preset}, ${config.shapes.length} shape(s) × ${selected.length} algorithm(s) on ${swept.join(', ') || 'no backend'}; ` +
      `warmup ${config.warmup}, repeats ${config.repeats}, inputs ${inputs.name}\nbackends:\n${describeBackends(backendReport).join('\n')}\n`,
  );
  for (const line of dropped) io.stderr(`warning: skipped ${line}\n`);

  const bar = createProgressBar(options.progress, 'sweep', io.progressStream);
  const { cells } = await runSweep(config, { algorithms, reference, inputs, progress: bar });
  bar.stop();

  let peers: BenchReport['peers'];
  if (options.peers) {
    const peerBar = createProgressBar(options.progress, 'peers', io.progressStream);
    peers = await runPeers(config.shapes, {
      python: options.python,
      warmup: config.warmup,
      repeats: config.repeats,
      seed: config.seed,
      accuracyRows: config.accuracyRows,
      onProgress: (done, total, label) => peerBar.update(done, total, label),
    });
    peerBar.stop();
    peers.ratios = peerRatios(cells, peers.cells);
    if (peers.status !== 'ok') io.stderr(`peers: ${peers.status}: ${peers.reason ?? ''} (the qattn results stand on their own)\n`);
  }

  const finishedAt = new Date();
  const machine = machineInfo();
  // Without nvidia-smi (containers), torch still names the GPU the peers ran on.
  if (machine.gpus.length === 0 && peers?.device) machine.gpus.push({ name: peers.device, source: 'torch' });
  const report: BenchReport = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: { name: '@qattn/bench', version: readVersion() },
    command: argv,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine,
    versions: versions(),
    git: gitInfo(),
    config: {
      preset: options.preset,
      algorithms: config.algorithms,
      backends: config.backends,
      sweptBackends: swept,
      warmup: config.warmup,
      repeats: config.repeats,
      seed: config.seed,
      data: options.data,
      inputs: inputs.name,
      accuracy: { enabled: config.accuracy, maxRows: config.accuracyRows, method: ACCURACY_METHOD },
      cpuMaxGop: config.cpuMaxGop,
      opsFormula: OPS_FORMULA,
    },
    backends: backendReport,
    cells,
    ...(peers ? { peers } : {}),
  };

  await writeOutputs(report, options, io);
  const failed = cells.filter((c) => c.status === 'error').length;
  if (failed) io.stderr(`${failed} cell(s) failed; see the notes above\n`);
  return options.strict && failed ? EXIT_CELL_ERRORS : 0;
}

/** Prints the table and writes whichever of --json, --md and --plot were asked for. */
async function writeOutputs(report: BenchReport, options: CliOptions, io: CliIo): Promise<void> {
  io.stdout(`${renderTable(report)}\n`);
  if (options.json) {
    await writeJson(options.json, report);
    io.stdout(`wrote ${options.json}\n`);
  }
  if (options.md) {
    await writeMarkdown(options.md, report);
    io.stdout(`wrote ${options.md}\n`);
  }
  if (options.plot) {
    // Loaded on demand: vega and resvg are large and the GPU host bundle leaves them out.
    const { writePlots } = await import('./report/plot.js');
    const files = await writePlots(options.plot, report);
    io.stdout(`wrote ${files.filter((f) => !f.endsWith('.vl.json')).join(', ')}\n`);
  }
}

/** --from-json: the outputs of a saved report (e.g. one made on the GPU host, where vega is not bundled). */
async function rerender(options: CliOptions, io: CliIo): Promise<number> {
  let report: BenchReport;
  try {
    report = JSON.parse(readFileSync(options.fromJson!, 'utf8')) as BenchReport;
  } catch (err) {
    io.stderr(`error: cannot read ${options.fromJson}: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  if (report?.schemaVersion !== REPORT_SCHEMA_VERSION || !Array.isArray(report.cells)) {
    io.stderr(`error: ${options.fromJson} is not a qattn-bench report of schemaVersion ${REPORT_SCHEMA_VERSION}\n`);
    return EXIT_USAGE;
  }
  await writeOutputs(report, { ...options, json: undefined }, io);
  return 0;
}

function defaultIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    progressStream: process.stderr,
  };
}
