import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveConfig, type CliOptions } from '../src/cli.js';
import { PRESETS } from '../src/presets.js';
import { runCli, spawnBin, TINY } from './helpers.js';

const defaults: CliOptions = {
  preset: 'quick',
  algorithms: ['flash-int8-pv-int8', 'flash-int8-pv-fp16', 'turbo-attn', 'float32'],
  backends: 'auto',
  seed: 1,
  data: 'llm',
  accuracy: true,
  accuracyRows: 128,
  progress: false,
};

describe('presets and flag overrides', () => {
  it('expands the paper preset to B4 H32, D64/128, 1K–16K, causal and not', () => {
    const { config } = resolveConfig({ ...defaults, preset: 'paper' });
    expect(config.shapes).toHaveLength(2 * 2 * 5);
    expect(new Set(config.shapes.map((s) => s.seqKV))).toEqual(new Set([1024, 2048, 4096, 8192, 16384]));
    expect(config.shapes.every((s) => s.batch === 4 && s.heads === 32 && s.seqQ === s.seqKV)).toBe(true);
    expect(config.repeats).toBe(PRESETS.paper.repeats);
  });

  it('makes decode a single query against long caches', () => {
    const { config } = resolveConfig({ ...defaults, preset: 'decode' });
    expect(config.shapes.every((s) => s.seqQ === 1 && s.kvHeads === 8)).toBe(true);
  });

  it('lets explicit flags override the preset axis by axis', () => {
    const { config } = resolveConfig({ ...defaults, preset: 'paper', seqQ: [1, 16], seqKv: [4096], headDim: [64], causal: [true], repeats: 2 });
    expect(config.shapes.map((s) => [s.seqQ, s.seqKV, s.headDim, s.causal, s.batch])).toEqual([
      [1, 4096, 64, true, 4],
      [16, 4096, 64, true, 4],
    ]);
    expect(config.repeats).toBe(2);
    expect(config.warmup).toBe(PRESETS.paper.warmup);
  });

  it('gives the overhead, schedules and profile presets their mode, algorithms, backends and no accuracy', () => {
    const overhead = resolveConfig({ ...defaults, algorithms: undefined, backends: undefined, accuracy: undefined, preset: 'overhead' }).config;
    expect(overhead).toMatchObject({ mode: 'overhead', calls: 10_000, accuracy: false, backends: 'auto', algorithms: ['flash-int8-pv-int8', 'turbo-attn'] });
    expect(overhead.shapes).toEqual([{ batch: 1, heads: 2, kvHeads: 2, seqQ: 64, seqKV: 64, headDim: 64, causal: false }]);
    const schedules = resolveConfig({ ...defaults, algorithms: undefined, backends: undefined, accuracy: undefined, preset: 'schedules', candidates: ['R2 wg512'] }).config;
    expect(schedules).toMatchObject({ mode: 'schedules', backends: ['webgpu'], algorithms: ['flash-int8-pv-int8'], candidates: ['R2 wg512'] });
    const profile = resolveConfig({ ...defaults, algorithms: ['turbo-attn'], backends: undefined, accuracy: undefined, preset: 'profile' }).config;
    expect(profile).toMatchObject({ mode: 'sweep', backends: ['cuda'], algorithms: ['turbo-attn'], warmup: 0, repeats: 1, accuracy: false });
    expect(profile.shapes).toHaveLength(1);
    // An explicit flag wins over the preset: accuracy back on, overhead calls lowered.
    expect(resolveConfig({ ...defaults, accuracy: true, preset: 'profile' }).config.accuracy).toBe(true);
    expect(resolveConfig({ ...defaults, preset: 'overhead', calls: 100 }).config.calls).toBe(100);
  });

  it('passes --options to the kernel algorithms and records them in the config', async () => {
    const { config } = resolveConfig({ ...defaults, options: { blockN: 32 } });
    expect(config.extraOptions).toEqual({ blockN: 32 });
    const { code, stderr } = await runCli(['--options', '[1]']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/is not a JSON object/);
  });

  it('drops kvHeads that do not divide heads and fails when nothing is left', () => {
    const { config, dropped } = resolveConfig({ ...defaults, heads: [8], kvHeads: [2, 3] });
    expect(config.shapes.every((s) => s.kvHeads === 2)).toBe(true);
    expect(dropped[0]).toContain('kvHeads 3');
    expect(() => resolveConfig({ ...defaults, heads: [8], kvHeads: [3] })).toThrow(/no valid shape/);
  });
});

describe('command line', () => {
  it.each([
    [['--bogus'], /unknown option '--bogus'/],
    [['--preset', 'huge'], /Allowed choices are quick, paper, decode/],
    [['--seq', '0'], /not a positive integer/],
    [['--seq', '1k,abc'], /not a positive integer/],
    [['--algorithms', 'flash-int9'], /unknown algorithm 'flash-int9'/],
    [['--backends', 'tpu'], /unknown backend 'tpu'/],
    [['--causal', 'maybe'], /not true\/false/],
    [['--repeats', '0'], /not a positive integer/],
    [['--seq', '64', '--seq-kv', '128'], /cannot be used with option/],
    [['--heads', '8', '--kv-heads', '3'], /no valid shape/],
  ])('rejects %j with a usage error and exit code 1', async (argv, message) => {
    const { code, stderr } = await runCli(argv);
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
  });

  it('exits non-zero from the real binary on a bad flag, printing usage help', () => {
    const result = spawnBin(['--preset', 'huge']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/error: option '-p, --preset <name>' argument 'huge' is invalid/);
    expect(result.stderr).toContain('qattn-bench --help');
  });

  it('prints --help with every flag and exits 0', () => {
    const result = spawnBin(['--help']);
    expect(result.status).toBe(0);
    for (const flag of ['--preset', '--algorithms', '--backends', '--seq', '--kv-heads', '--causal', '--json', '--md', '--plot', '--peers', '--no-progress']) {
      expect(result.stdout).toContain(flag);
    }
    // The README shows the help verbatim: it must not drift from the binary's (regenerate it from this output).
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const shown = /```\n(Usage: qattn-bench[\s\S]*?)```/.exec(readme)?.[1];
    expect(shown, 'README.md: the ```-fenced --help block').toBeDefined();
    expect(shown!.trimEnd()).toBe(result.stdout.trimEnd());
  });

  it('accepts 1k-style lengths and runs a tiny sweep end to end from the binary', () => {
    const result = spawnBin([...TINY, '--algorithms', 'float32', '--seq', '1k', '--heads', '1', '--causal', 'true']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('B1 H1 N1024 D16 causal');
    expect(result.stdout).toMatch(/backends:\n\s+cpu\s+available for float32/);
  });
});
