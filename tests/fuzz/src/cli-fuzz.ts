// qattn-fuzz: the long fuzz run (README.md). `pnpm --filter @qattn/fuzz fuzz --shapes 500 --backends cuda,webgpu,cpu`.
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ALGORITHMS, type Algorithm, BACKENDS, type Backend } from './bars.js';
import { describeCase, type FuzzProfile } from './cases.js';
import { failureLines, summarize, summaryTable } from './report.js';
import { type CheckResult, probeBackends, runFuzz } from './runner.js';

/** Exit status of a run with failures, and of a usage error or a requested backend that does not load. */
export const EXIT_FAILURES = 1;
export const EXIT_USAGE = 2;

/** Where the CLI writes (tests capture it). */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

function nonNegativeInt(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`'${text}' is not a non-negative integer`);
  return Number(text);
}

function seedArg(text: string): number {
  const value = nonNegativeInt(text);
  if (value > 0xffffffff) throw new InvalidArgumentError(`'${text}' does not fit 32 bits`);
  return value;
}

function listOf<T extends string>(allowed: readonly T[], what: string) {
  return (text: string): T[] => {
    const items = text.split(',').map((item) => item.trim());
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) throw new InvalidArgumentError(`unknown ${what} '${item}' (choose from ${allowed.join(', ')})`);
    }
    return [...new Set(items)] as T[];
  };
}

interface FuzzCliOptions {
  shapes: number;
  seed?: number;
  case?: number;
  profile: FuzzProfile;
  backends?: Backend[];
  algorithms: Algorithm[];
  json?: string;
  verbose: boolean;
}

function program(io: CliIo): Command {
  return new Command('qattn-fuzz')
    .description('Seeded shape and edge-value fuzzing of flash-int8 and turbo-attn on every backend, against float64 and the CPU oracles.')
    .option('--shapes <n>', 'cases to run: indices 0 … n − 1', nonNegativeInt, 500)
    .addOption(new Option('--seed <n>', 'seed (default: $QATTN_FUZZ_SEED, else a random one, printed)').argParser(seedArg))
    .addOption(new Option('--case <i>', 'run only case i of the seed (default: $QATTN_FUZZ_CASE)').argParser(nonNegativeInt))
    .addOption(new Option('--profile <name>', 'shape sizes: ci (small, the vitest run) or full').choices(['ci', 'full']).default('full'))
    .option('--backends <list>', `comma-separated, each must load here (default: every one that loads of ${BACKENDS.join(', ')})`, listOf(BACKENDS, 'backend'))
    .option('--algorithms <list>', `comma-separated (${ALGORITHMS.join(', ')})`, listOf(ALGORITHMS, 'algorithm'), [...ALGORITHMS])
    .option('--json <file>', 'write every verdict as JSON')
    .option('--verbose', 'print every case, not only failures and progress', false)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) });
}

function envInt(name: string, parse: (text: string) => number): number | undefined {
  const text = process.env[name];
  return text === undefined || text === '' ? undefined : parse(text);
}

/** Runs the CLI on `argv` (without node and the script); resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIo = { out: (line) => console.log(line), err: (line) => console.error(line) }): Promise<number> {
  let options: FuzzCliOptions;
  try {
    options = program(io).parse([...argv], { from: 'user' }).opts<FuzzCliOptions>();
    options.seed ??= envInt('QATTN_FUZZ_SEED', seedArg);
    options.case ??= envInt('QATTN_FUZZ_CASE', nonNegativeInt);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    io.err(`qattn-fuzz: ${(err as Error).message}`);
    return EXIT_USAGE;
  }
  const seed = options.seed ?? randomInt(0, 2 ** 32 - 1);
  const requested = options.backends ?? [...BACKENDS];
  const probe = await probeBackends(requested);
  if (options.backends && probe.missing.length > 0) {
    for (const { backend, reason } of probe.missing) io.err(`qattn-fuzz: backend ${backend} does not load here: ${reason}`);
    return EXIT_USAGE;
  }
  for (const { backend, reason } of probe.missing) io.out(`skipping ${backend}: ${reason}`);
  const indices = options.case !== undefined ? [options.case] : Array.from({ length: options.shapes }, (_, i) => i);
  const devices = [
    probe.facts.webgpu ? `webgpu: ${probe.facts.webgpu.adapter.description || probe.facts.webgpu.adapter.device || probe.facts.webgpu.adapter.vendor}` : '',
    probe.facts.cudaSasEvaluation ? `cuda SAS: ${probe.facts.cudaSasEvaluation}` : '',
  ].filter(Boolean);
  io.out(
    `qattn-fuzz: seed ${seed}, profile ${options.profile}, ${indices.length} case(s)${options.case !== undefined ? ` (case ${options.case})` : ''}, ` +
      `backends ${probe.available.join(',')}, algorithms ${options.algorithms.join(',')}${devices.length > 0 ? ` (${devices.join('; ')})` : ''}`,
  );
  const start = performance.now();
  let done = 0;
  let failed = 0;
  const results: CheckResult[] = await runFuzz({
    seed,
    profile: options.profile,
    indices,
    backends: probe.available,
    algorithms: options.algorithms,
    facts: probe.facts,
    onCase(c, caseResults) {
      done++;
      const failures = caseResults.filter((r) => r.status === 'fail');
      failed += failures.length;
      if (options.verbose) io.out(`${describeCase(c)}: ${caseResults.map((r) => `${r.algorithm}/${r.backend} ${r.status}`).join(', ')}`);
      for (const failure of failures) io.out(failureLines(failure));
      if (!options.verbose && (done % 25 === 0 || done === indices.length)) {
        io.out(`${done}/${indices.length} cases, ${failed} failure(s), ${((performance.now() - start) / 1000).toFixed(1)} s`);
      }
    },
  });
  io.out(summaryTable(summarize(results)));
  if (options.json) {
    const verdicts = results.map(({ fuzzCase, ...rest }) => ({ case: describeCase(fuzzCase), seed: fuzzCase.seed, index: fuzzCase.index, ...rest }));
    writeFileSync(options.json, `${JSON.stringify({ seed, profile: options.profile, verdicts }, null, 2)}\n`);
  }
  io.out(failed === 0 ? `qattn-fuzz: no failures (seed ${seed})` : `qattn-fuzz: ${failed} failure(s) (seed ${seed}); each FAIL line above has its replay command`);
  return failed === 0 ? 0 : EXIT_FAILURES;
}
