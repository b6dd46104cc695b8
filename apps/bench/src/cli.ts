import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import {
  type CliIo,
  EXIT_CELL_ERRORS,
  EXIT_USAGE,
  type OutputOptions,
  readVersion,
  type RunConfig,
  type RunContext,
  UsageError,
  writeOutputs,
} from './modes/context.js';
import { CACHE_KIND_NAMES, type CacheKindName, parseCacheKinds } from './decode-cache/kinds.js';
import { runDecodeCacheMode } from './modes/decode-cache.js';
import { runOverheadMode } from './modes/overhead.js';
import { runSanitizeMode } from './modes/sanitize.js';
import { runSchedulesMode } from './modes/schedules.js';
import { runSweepMode } from './modes/sweep.js';
import {
  ALGORITHM_IDS,
  type AlgorithmId,
  BACKEND_NAMES,
  type BackendName,
  DATA_KINDS,
  type DataKind,
  DEFAULT_WARMUP_MS,
  expandGrid,
  PRESET_NAMES,
  type PresetName,
  PRESETS,
  type ShapeGrid,
} from './presets.js';
import { type BenchReport, REPORT_SCHEMA_VERSION } from './report/report.js';

export { type CliIo, EXIT_CELL_ERRORS, EXIT_USAGE, UsageError } from './modes/context.js';
export { describeBackends } from './modes/sweep.js';

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

function parseNonNegativeNumber(text: string): number {
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError(`'${text}' is not a non-negative number`);
  return value;
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

/** Parses `--options '{"blockN":32}'`: a JSON object of extra algorithm options. */
function parseOptionsJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(`'${text}' is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`'${text}' is not a JSON object`);
  return value as Record<string, unknown>;
}

/** The parsed flags (commander's camel-cased names); undefined = not given, the preset decides. */
export interface CliOptions {
  preset: PresetName;
  algorithms?: AlgorithmId[];
  backends?: BackendName[] | 'auto';
  batch?: number[];
  heads?: number[];
  kvHeads?: number[];
  seq?: number[];
  seqQ?: number[];
  seqKv?: number[];
  headDim?: number[];
  causal?: boolean[];
  warmup?: number;
  warmupMs?: number;
  repeats?: number;
  calls?: number;
  options?: Record<string, unknown>;
  candidates?: string[];
  caches?: CacheKindName[];
  seed: number;
  data: DataKind;
  accuracy?: boolean;
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
      'Benchmark quantized attention (INT-FlashAttention, TurboAttention) against a float baseline and PyTorch on every ' +
        'available backend: time, kernel and whole-call TOPS, accuracy vs the float64 reference; host overhead and leaks ' +
        'per call; the WebGPU schedule sweep; the compute-sanitizer workload.',
    )
    .version(readVersion(), '-V, --version')
    .addOption(new Option('-p, --preset <name>', 'what to run and its starting grid (see Presets below)').choices(PRESET_NAMES).default('quick'))
    .addOption(new Option('-a, --algorithms <list>', `comma list of ${ALGORITHM_IDS.join(', ')}, or all (default: the preset's, else all)`).argParser(parseAlgorithms))
    .addOption(new Option('-b, --backends <list>', `comma list of ${BACKEND_NAMES.join(', ')}, or auto: every available one (default: the preset's, else auto)`).argParser(parseBackends))
    .addOption(new Option('--batch <list>', 'batch sizes (overrides the preset)').argParser(ints))
    .addOption(new Option('--heads <list>', 'query heads').argParser(ints))
    .addOption(new Option('--kv-heads <list>', 'kv heads (must divide heads; default = heads)').argParser(ints))
    .addOption(new Option('--seq <list>', 'sequence lengths with seqQ = seqKV, e.g. 1k,4k').argParser(ints).conflicts(['seqQ', 'seqKv']))
    .addOption(new Option('--seq-q <list>', 'query lengths, swept independently of --seq-kv').argParser(ints))
    .addOption(new Option('--seq-kv <list>', 'key/value lengths').argParser(ints))
    .addOption(new Option('--head-dim <list>', 'head dimensions').argParser(ints))
    .addOption(new Option('--causal <list>', 'true, false, or both (bottom-right aligned mask)').argParser(parseCausal))
    .addOption(new Option('--warmup <n>', 'unrecorded calls per cell (default: preset)').argParser(parseNonNegativeInt))
    .addOption(
      new Option('--warmup-ms <ms>', `GPU timings: keep warming up (after --warmup calls) for at least this long, sized by one probe call; 0: off (default: preset, else ${DEFAULT_WARMUP_MS})`).argParser(
        parseNonNegativeNumber,
      ),
    )
    .addOption(new Option('--repeats <n>', 'recorded calls per cell, the median is reported; overhead: repeats of the kernel time (default: preset)').argParser(int))
    .addOption(new Option('--calls <n>', 'overhead: sequential calls per entry, timed one by one and spanned by the leak check; decode-cache: device-resident steps timed for the host overhead (default: preset)').argParser(int))
    .addOption(new Option('--options <json>', `extra options for every kernel algorithm's calls, e.g. '{"blockN":32}' (pick the package with -a); decode-cache: turboDecode options`).argParser(parseOptionsJson))
    .addOption(new Option('--candidates <list>', "schedules: only the candidates whose label starts with one of these, e.g. 'R2 wg512,R4 wg128 pc4' (the rule always runs)").argParser(listOf((s) => s)))
    .addOption(
      new Option('--caches <list>', `decode-cache: comma list of ${CACHE_KIND_NAMES.join(', ')}, or all (default: the preset's)`).argParser((text) => {
        try {
          return parseCacheKinds(text);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      }),
    )
    .addOption(new Option('--seed <n>', 'seed of the input generator').argParser(parseNonNegativeInt).default(1))
    .addOption(new Option('--data <kind>', 'input distribution of @qattn/reference').choices(DATA_KINDS).default('llm'))
    .option('--accuracy', "measure accuracy against @qattn/reference (default: the preset's, else on)")
    .option('--no-accuracy', 'skip the accuracy check against @qattn/reference')
    .addOption(new Option('--accuracy-rows <n>', 'most query rows of the accuracy sub-problem').argParser(int).default(128))
    .addOption(new Option('--cpu-max-gop <n>', 'skip cpu cells above this many giga-operations (default: preset)').argParser(parsePositiveNumber))
    .option('--json <file>', 'write every number, the machine, versions and commit as JSON')
    .option('--md <file>', 'write the tables as markdown')
    .option('--plot <dir>', 'write TOPS-vs-sequence and accuracy plots (SVG, PNG, vega-lite spec) into dir')
    .option('--peers', "also run PyTorch SDPA (flash fp16, cuDNN bf16, math fp32) on the same shapes, when torch+CUDA are there, and onnxruntime-web's WebGPU attention (f32, f16) on the same adapter when the webgpu backend runs")
    .option('--no-peers', 'cancel an earlier --peers')
    .option('--python <bin>', 'python interpreter for --peers (default: $QATTN_PYTHON or python3)')
    .option('--no-progress', 'no progress bar (it is also off when stderr is not a terminal)')
    .option('--strict', `exit ${EXIT_CELL_ERRORS} when any cell ends in an error (overhead: a missed target or a leak)`)
    .option('--from-json <file>', 'run nothing: re-render the table, --md and --plot from a saved --json report')
    .addHelpText('after', presetsHelp())
    .showHelpAfterError('(run qattn-bench --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}

/** The "Presets" and "Examples" sections of --help, written from the preset table itself. */
function presetsHelp(): string {
  const list = (values: number[] | 'same') => (values === 'same' ? '=heads' : values.map((v) => (v >= 1024 && v % 1024 === 0 ? `${v / 1024}K` : `${v}`)).join('/'));
  const width = Math.max(...PRESET_NAMES.map((name) => name.length));
  const lines = PRESET_NAMES.map((name) => {
    const { grid, warmup, warmupMs, repeats, cpuMaxGop, description, mode, calls, algorithms, backends, caches } = PRESETS[name];
    const seq = grid.seqQ === 'same' ? `N ${list(grid.seqKV)}` : `seqQ ${list(grid.seqQ)}, seqKV ${list(grid.seqKV)}`;
    const causal = grid.causal.length === 2 ? 'causal and not' : grid.causal[0] ? 'causal' : 'not causal';
    const kv = grid.kvHeads === 'same' ? '' : `/${list(grid.kvHeads)}`;
    const shape = mode === 'sanitize' ? 'fixed odd shapes' : `B${list(grid.batch)} H${list(grid.heads)}${kv} D${list(grid.headDim)}, ${seq}, ${causal}`;
    const runs = [
      mode === 'overhead' ? `${calls} calls, warmup ${warmup}, kernel repeats ${repeats}` : mode === 'sanitize' ? 'one call per case' : `warmup ${warmup}${warmupMs !== undefined ? `, warmup-ms ${warmupMs}` : ''}, repeats ${repeats}`,
      ...(mode === 'decode-cache' ? [`caches ${caches?.join(',')}`, `${calls} device-resident steps`] : []),
      ...((mode === 'sweep' || mode === 'decode-cache') && !backends ? [`cpu ${mode === 'sweep' ? 'cells' : 'rows'} up to ${cpuMaxGop} GOP`] : []),
      ...(algorithms ? [`-a ${algorithms.join(',')}`] : []),
      ...(backends ? [`-b ${backends.join(',')}`] : []),
    ];
    return `  ${name.padEnd(width)} ${shape}; ${runs.join(', ')}\n${' '.repeat(width + 3)}${description}`;
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
    '  qattn-bench --preset paper -a flash-int8-pv-int8 --options \'{"blockN":32}\' --seq 16k --causal false',
    '  qattn-bench --preset decode --kv-heads 1,8',
    '  qattn-bench --preset decode-cache --backends cuda --peers --json decode.json',
    '  qattn-bench --preset decode-cache-smoke --backends cpu --caches all',
    '  qattn-bench --preset overhead --json overhead.json',
    "  qattn-bench --preset schedules --candidates 'R2 wg512,R2 wg256 pc4' --seq 1k",
    '  qattn-bench --preset profile -a turbo-attn      (under ncu --kernel-name regex:attn_fwd --launch-count 1)',
  ].join('\n');
}

/** Turns the flags into a run config: the preset, then every explicit flag on top. */
export function resolveConfig(options: CliOptions): { config: RunConfig; dropped: string[] } {
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
  if (options.caches && preset.mode !== 'decode-cache') throw new UsageError(`--caches applies to the decode-cache presets, not ${preset.name}`);
  const { shapes, dropped } = expandGrid(grid);
  if (shapes.length === 0) {
    throw new UsageError(`no valid shape in the grid (${dropped.join('; ')})`);
  }
  return {
    config: {
      preset: preset.name,
      mode: preset.mode,
      shapes,
      algorithms: options.algorithms ?? [...(preset.algorithms ?? ALGORITHM_IDS)],
      backends: options.backends ?? (preset.backends ? [...preset.backends] : 'auto'),
      warmup: options.warmup ?? preset.warmup,
      warmupMs: options.warmupMs ?? preset.warmupMs ?? DEFAULT_WARMUP_MS,
      repeats: options.repeats ?? preset.repeats,
      calls: options.calls ?? preset.calls ?? 1,
      seed: options.seed,
      data: options.data,
      accuracy: options.accuracy ?? preset.accuracy ?? true,
      accuracyRows: options.accuracyRows,
      cpuMaxGop: options.cpuMaxGop ?? preset.cpuMaxGop,
      extraOptions: options.options ?? {},
      ...(options.candidates ? { candidates: options.candidates } : {}),
      ...(preset.mode === 'decode-cache' ? { caches: options.caches ?? [...(preset.caches ?? ['int4'])] } : {}),
    },
    dropped,
  };
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
    if (err instanceof UsageError) return usageError(io, err);
    throw err;
  }
  const output: OutputOptions = {
    json: options.json,
    md: options.md,
    plot: options.plot,
    progress: options.progress,
    peers: options.peers,
    python: options.python,
    strict: options.strict,
  };
  if (options.fromJson) return rerender(options.fromJson, output, io);
  const ctx: RunContext = { argv, config: resolved.config, output, io, startedAt: new Date() };
  try {
    switch (ctx.config.mode) {
      case 'overhead':
        return await runOverheadMode(ctx);
      case 'schedules':
        return await runSchedulesMode(ctx);
      case 'sanitize':
        return await runSanitizeMode(ctx);
      case 'decode-cache':
        return await runDecodeCacheMode(ctx, resolved.dropped);
      default:
        return await runSweepMode(ctx, resolved.dropped);
    }
  } catch (err) {
    if (err instanceof UsageError) return usageError(io, err);
    throw err;
  }
}

function usageError(io: CliIo, err: UsageError): number {
  io.stderr(`error: ${err.message}\n(run qattn-bench --help for usage)\n`);
  return EXIT_USAGE;
}

/** --from-json: the outputs of a saved report (e.g. one made on the GPU host, where vega is not bundled). */
async function rerender(file: string, output: OutputOptions, io: CliIo): Promise<number> {
  let report: BenchReport;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
  } catch (err) {
    io.stderr(`error: cannot read ${file}: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  if (report?.schemaVersion !== REPORT_SCHEMA_VERSION || !Array.isArray(report.cells)) {
    io.stderr(`error: ${file} is not a qattn-bench report of schemaVersion ${REPORT_SCHEMA_VERSION}\n`);
    return EXIT_USAGE;
  }
  await writeOutputs(report, { ...output, json: undefined }, io);
  return 0;
}

function defaultIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    progressStream: process.stderr,
  };
}
