// qattn-soak: many calls, and bursts of concurrent ones, mixing backends — flash-int8, turbo-attn, and a kv-cache
// append + turboDecode loop — then the live device buffers, device memory, RSS and JS heap against their values
// before, with stated slack. `pnpm --filter @qattn/fuzz soak --calls 10000 --backends cuda,webgpu,cpu` (README.md).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { writeFileSync } from 'node:fs';
import { getCudaRuntime } from '@qattn/cuda-runtime';
import { flashInt8Attention } from '@qattn/flash-int8';
import { type KVCache, createKVCache } from '@qattn/kv-cache';
import { isQattnError } from '@qattn/quant-core';
import { type AttentionInputs, generateInputs } from '@qattn/reference';
import { turboAttention, turboDecode } from '@qattn/turbo-attn';
import { acquireGpu, clearAttentionPlans } from '@qattn/webgpu-runtime';
import Table from 'cli-table3';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BACKENDS, type Backend } from './bars.js';
import { firstNonFinite } from './check.js';
import { probeBackends } from './runner.js';
import { type BufferTracker, trackBuffers } from './webgpu-buffers.js';

const MiB = 2 ** 20;

/**
 * Leak slack, each a bound on growth over the whole run (after the caches are emptied at both ends):
 * - device buffers (CUDA `liveBuffers()`, WebGPU buffers counted by `trackBuffers`): none — every buffer a call
 *   allocates outside a plan cache must be freed;
 * - CUDA device memory in use (total − free after `releaseCaches()` trims the pool): 32 MiB, 16 of the driver's 2 MiB
 *   allocation granules, for what the driver keeps outside the pool;
 * - RSS: 128 MiB, what V8 and the native allocators may keep without a leak; a per-call leak of a single 16-KiB output
 *   over 10 000 calls is 156 MiB;
 * - JS heap after a full garbage collection: 32 MiB.
 */
export const DEFAULT_SLACK: Readonly<SoakSlack> = { rssMiB: 128, heapMiB: 32, cudaMemoryMiB: 32 };

/** Allowed growth of RSS, JS heap after GC and CUDA device memory in use, in MiB. */
export interface SoakSlack {
  rssMiB: number;
  heapMiB: number;
  cudaMemoryMiB: number;
}

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** Sequential calls (each an attention call or one decode step: append one token, then turboDecode). */
  calls: number;
  /** Backends that load here (see `probeBackends`). */
  backends: readonly Backend[];
  /** Bursts of concurrent calls, spread over the run, and calls per burst. */
  bursts: number;
  burstSize: number;
  slack?: Partial<SoakSlack>;
  /** Called after every sequential call (progress; tests inject a leak here to prove the check finds it). */
  afterCall?: (done: number) => void | Promise<void>;
}

/** One before/after comparison. */
export interface SoakMetric {
  name: string;
  unit: 'buffers' | 'MiB';
  before: number;
  after: number;
  /** Largest allowed growth. */
  slack: number;
  ok: boolean;
}

/** What a soak found. */
export interface SoakReport {
  calls: number;
  burstCalls: number;
  seconds: number;
  /** Calls that threw or returned a non-finite or wrongly sized output (the first 20 described). */
  failures: number;
  failureMessages: string[];
  metrics: SoakMetric[];
  ok: boolean;
}

/** Attention shapes of the soak: ten of them, two more than a plan cache holds, so plans are evicted all along. */
const ATTENTION_SHAPES = Array.from({ length: 10 }, (_, i) => ({
  batch: 1 + (i % 2),
  heads: 4,
  kvHeads: i % 3 === 0 ? 1 : 2,
  seqQ: [1, 17, 33, 64, 5][i % 5],
  seqKV: 1 + 16 * (i + 1),
  headDim: i % 2 === 0 ? 64 : 128,
}));

/** The decode loop's cache: tokens of the prompt, and the length at which a cache is disposed and a new one made. */
const CACHE = { batch: 1, kvHeads: 2, headDim: 64, heads: 4, promptTokens: 40, maxTokens: 160 } as const;

/** One decode loop per backend: its live cache (created on demand) and the step data. */
interface DecodeLoop {
  backend: Backend;
  cache: KVCache | undefined;
  prompt: AttentionInputs;
  steps: AttentionInputs[];
  step: number;
}

/** A GC function: `globalThis.gc` under --expose-gc, else V8's, exposed at run time. */
function garbageCollector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

class Soak {
  readonly inputs = ATTENTION_SHAPES.map((shape, i) => generateInputs(shape, { kind: 'llm', seed: 100 + i }));
  readonly loops: DecodeLoop[];
  failures = 0;
  readonly failureMessages: string[] = [];

  constructor(readonly backends: readonly Backend[]) {
    const stepShape = { batch: CACHE.batch, heads: CACHE.heads, kvHeads: CACHE.kvHeads, seqQ: 1, seqKV: 1, headDim: CACHE.headDim };
    this.loops = backends.map((backend, b) => ({
      backend,
      cache: undefined,
      prompt: generateInputs({ ...stepShape, seqQ: CACHE.promptTokens, seqKV: CACHE.promptTokens }, { kind: 'llm', seed: 200 + b }),
      steps: Array.from({ length: 8 }, (_, s) => generateInputs(stepShape, { kind: 'llm', seed: 300 + 8 * b + s })),
      step: 0,
    }));
  }

  #fail(what: string, err: unknown): void {
    this.failures++;
    if (this.failureMessages.length < 20) this.failureMessages.push(`${what}: ${isQattnError(err) ? `${err.code}: ${err.message}` : (err as Error)?.message ?? String(err)}`);
  }

  #checkOutput(what: string, out: Float32Array, length: number): void {
    if (!(out instanceof Float32Array) || out.length !== length) this.#fail(what, new Error(`output of ${out?.length} elements, expected ${length}`));
    else if (firstNonFinite(out) >= 0) this.#fail(what, new Error(`non-finite output at ${firstNonFinite(out)}`));
  }

  /**
   * Attention call `i`: the backend varies fastest, then the algorithm, the shape and the mask, so any
   * 40 · backends consecutive calls run every combination once.
   */
  async attention(i: number): Promise<void> {
    const backend = this.backends[i % this.backends.length];
    const round = Math.floor(i / this.backends.length);
    const algorithm = round % 2 === 0 ? 'flash-int8' : 'turbo-attn';
    const s = Math.floor(round / 2) % ATTENTION_SHAPES.length;
    const causal = Math.floor(round / (2 * ATTENTION_SHAPES.length)) % 2 === 1;
    const shape = ATTENTION_SHAPES[s];
    const { q, k, v } = this.inputs[s];
    const what = `${algorithm} ${backend} shape ${s}${causal ? ' causal' : ''}`;
    try {
      const run = algorithm === 'flash-int8' ? flashInt8Attention : turboAttention;
      this.#checkOutput(what, await run(q, k, v, shape, { backend, causal }), q.length);
    } catch (err) {
      this.#fail(what, err);
    }
  }

  /** One decode step of a loop: a new cache (prompt appended) when there is none or it is full, then append + decode. */
  async decodeStep(loop: DecodeLoop): Promise<void> {
    const what = `decode ${loop.backend}`;
    try {
      if (loop.cache && loop.cache.length >= CACHE.maxTokens) this.disposeCache(loop);
      if (!loop.cache) {
        loop.cache = await createKVCache({ batch: CACHE.batch, kvHeads: CACHE.kvHeads, headDim: CACHE.headDim, backend: loop.backend });
        await loop.cache.append(loop.prompt.k, loop.prompt.v);
      }
      const step = loop.steps[loop.step++ % loop.steps.length];
      await loop.cache.append(step.k, step.v);
      this.#checkOutput(what, await turboDecode(step.q, loop.cache), step.q.length);
    } catch (err) {
      this.#fail(what, err);
    }
  }

  disposeCache(loop: DecodeLoop): void {
    loop.cache?.dispose();
    loop.cache = undefined;
  }

  /** Sequential call `i`: two attention calls for every decode step, the decode steps rotating over the backends. */
  call(i: number): Promise<void> {
    if (i % 3 === 2) return this.decodeStep(this.loops[Math.floor(i / 3) % this.loops.length]);
    return this.attention(i - Math.floor(i / 3));
  }

  /** `size` calls at once: attention calls on every backend and shape, and one decode chain per backend beside them. */
  async burst(size: number, offset: number): Promise<number> {
    const chainSteps = Math.max(1, Math.floor(size / 8));
    const attentionCalls = Math.max(0, size - chainSteps * this.loops.length);
    const chains = this.loops.map(async (loop) => {
      for (let s = 0; s < chainSteps; s++) await this.decodeStep(loop);
    });
    await Promise.all([...chains, ...Array.from({ length: attentionCalls }, (_, j) => this.attention(offset + j))]);
    return attentionCalls + chainSteps * this.loops.length;
  }
}

/** The counters the soak compares, read after emptying every cache that legitimately holds memory. */
interface Snapshot {
  cudaBuffers?: number;
  cudaUsedMiB?: number;
  webgpuBuffers?: number;
  webgpuMiB?: number;
  rssMiB: number;
  heapMiB: number;
}

async function snapshot(soak: Soak, tracker: BufferTracker | undefined, gc: () => void): Promise<Snapshot> {
  for (const loop of soak.loops) soak.disposeCache(loop);
  const out: Partial<Snapshot> = {};
  if (soak.backends.includes('cuda')) {
    const runtime = getCudaRuntime();
    await runtime.releaseCaches();
    const { free, total } = await runtime.memInfo();
    out.cudaBuffers = runtime.liveBuffers();
    out.cudaUsedMiB = (total - free) / MiB;
  }
  if (tracker) {
    clearAttentionPlans((await acquireGpu()).device);
    const { live, bytes } = tracker.counts();
    out.webgpuBuffers = live;
    out.webgpuMiB = bytes / MiB;
  }
  // Twice: the first collection runs finalizers that free what the second then reclaims.
  gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
  gc();
  const memory = process.memoryUsage();
  return { ...out, rssMiB: memory.rss / MiB, heapMiB: memory.heapUsed / MiB };
}

function compareSnapshots(before: Snapshot, after: Snapshot, slack: SoakSlack): SoakMetric[] {
  const metrics: SoakMetric[] = [];
  const add = (name: string, unit: SoakMetric['unit'], from: number | undefined, to: number | undefined, allowed: number) => {
    if (from === undefined || to === undefined) return;
    metrics.push({ name, unit, before: from, after: to, slack: allowed, ok: to - from <= allowed });
  };
  add('cuda live buffers', 'buffers', before.cudaBuffers, after.cudaBuffers, 0);
  add('cuda device memory in use', 'MiB', before.cudaUsedMiB, after.cudaUsedMiB, slack.cudaMemoryMiB);
  add('webgpu live buffers', 'buffers', before.webgpuBuffers, after.webgpuBuffers, 0);
  add('webgpu buffer memory', 'MiB', before.webgpuMiB, after.webgpuMiB, 0);
  add('RSS', 'MiB', before.rssMiB, after.rssMiB, slack.rssMiB);
  add('JS heap (after GC)', 'MiB', before.heapMiB, after.heapMiB, slack.heapMiB);
  return metrics;
}

/**
 * Runs the soak: a warm-up (every shape on every backend, a full cache lifecycle per backend, one burst), the baseline,
 * then `calls` sequential calls with `bursts` bursts spread among them, then the comparison. Device caches are emptied
 * before each reading (the CUDA runtime's `releaseCaches()`, WebGPU's attention plans, the decode loops' caches), so
 * what remains is what calls leaked. WebGPU buffers are counted on the shared device from the warm-up on.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const slack = { ...DEFAULT_SLACK, ...options.slack };
  const soak = new Soak(options.backends);
  const gc = garbageCollector();
  const tracker = options.backends.includes('webgpu') ? trackBuffers((await acquireGpu()).device) : undefined;
  try {
    const warmup = ATTENTION_SHAPES.length * 4 * options.backends.length;
    for (let i = 0; i < warmup; i++) await soak.attention(i);
    for (const loop of soak.loops) for (let s = 0; s < CACHE.maxTokens - CACHE.promptTokens + 2; s++) await soak.decodeStep(loop);
    await soak.burst(options.burstSize, 0);
    const before = await snapshot(soak, tracker, gc);
    const start = performance.now();
    const burstEvery = options.bursts > 0 ? Math.max(1, Math.floor(options.calls / (options.bursts + 1))) : Infinity;
    let burstCalls = 0;
    let burstsDone = 0;
    for (let i = 0; i < options.calls; i++) {
      await soak.call(i);
      if ((i + 1) % burstEvery === 0 && burstsDone < options.bursts) {
        burstCalls += await soak.burst(options.burstSize, i);
        burstsDone++;
      }
      await options.afterCall?.(i + 1);
    }
    const seconds = (performance.now() - start) / 1000;
    const after = await snapshot(soak, tracker, gc);
    const metrics = compareSnapshots(before, after, slack);
    return {
      calls: options.calls,
      burstCalls,
      seconds,
      failures: soak.failures,
      failureMessages: soak.failureMessages,
      metrics,
      ok: soak.failures === 0 && metrics.every((metric) => metric.ok),
    };
  } finally {
    for (const loop of soak.loops) soak.disposeCache(loop);
    tracker?.stop();
  }
}

/** The metrics as a text table (cli-table3). */
export function soakTable(report: SoakReport): string {
  const table = new Table({ head: ['metric', 'before', 'after', 'growth', 'allowed', ''], style: { head: [], border: [] } });
  const format = (value: number, unit: SoakMetric['unit']) => (unit === 'buffers' ? String(value) : `${value.toFixed(1)} MiB`);
  for (const m of report.metrics) {
    table.push([m.name, format(m.before, m.unit), format(m.after, m.unit), format(m.after - m.before, m.unit), format(m.slack, m.unit), m.ok ? 'ok' : 'LEAK']);
  }
  return table.toString();
}

function positiveInt(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) === 0) throw new InvalidArgumentError(`'${text}' is not a positive integer`);
  return Number(text);
}

function nonNegativeNumber(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) throw new InvalidArgumentError(`'${text}' is not a non-negative number`);
  return value;
}

function backendList(text: string): Backend[] {
  const items = text.split(',').map((item) => item.trim());
  for (const item of items) if (!(BACKENDS as readonly string[]).includes(item)) throw new InvalidArgumentError(`unknown backend '${item}' (choose from ${BACKENDS.join(', ')})`);
  return [...new Set(items)] as Backend[];
}

interface SoakCliOptions {
  calls: number;
  backends?: Backend[];
  bursts: number;
  burstSize: number;
  rssSlackMib: number;
  heapSlackMib: number;
  cudaMemorySlackMib: number;
  json?: string;
}

/** Runs the soak CLI on `argv`; resolves to the exit status (1: a leak or failed calls, 2: usage or a missing backend). */
export async function main(argv: readonly string[], io = { out: (line: string) => console.log(line), err: (line: string) => console.error(line) }): Promise<number> {
  let options: SoakCliOptions;
  try {
    options = new Command('qattn-soak')
      .description('Many calls and concurrent bursts on every backend; fails on device buffers, device memory, RSS or heap left behind.')
      .option('--calls <n>', 'sequential calls', positiveInt, 10_000)
      .option('--backends <list>', `comma-separated, each must load here (default: every one that loads of ${BACKENDS.join(', ')})`, backendList)
      .addOption(new Option('--bursts <n>', 'bursts of concurrent calls spread over the run').argParser(positiveInt).default(5))
      .addOption(new Option('--burst-size <n>', 'calls per burst').argParser(positiveInt).default(48))
      .option('--rss-slack-mib <n>', 'allowed RSS growth', nonNegativeNumber, DEFAULT_SLACK.rssMiB)
      .option('--heap-slack-mib <n>', 'allowed JS heap growth after GC', nonNegativeNumber, DEFAULT_SLACK.heapMiB)
      .option('--cuda-memory-slack-mib <n>', 'allowed growth of CUDA device memory in use', nonNegativeNumber, DEFAULT_SLACK.cudaMemoryMiB)
      .option('--json <file>', 'write the report as JSON')
      .exitOverride()
      .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) })
      .parse([...argv], { from: 'user' })
      .opts<SoakCliOptions>();
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  const probe = await probeBackends(options.backends ?? BACKENDS);
  if (options.backends && probe.missing.length > 0) {
    for (const { backend, reason } of probe.missing) io.err(`qattn-soak: backend ${backend} does not load here: ${reason}`);
    return 2;
  }
  for (const { backend, reason } of probe.missing) io.out(`skipping ${backend}: ${reason}`);
  io.out(`qattn-soak: ${options.calls} calls, ${options.bursts} bursts of ${options.burstSize}, backends ${probe.available.join(',')}`);
  const report = await runSoak({
    calls: options.calls,
    backends: probe.available,
    bursts: options.bursts,
    burstSize: options.burstSize,
    slack: { rssMiB: options.rssSlackMib, heapMiB: options.heapSlackMib, cudaMemoryMiB: options.cudaMemorySlackMib },
    afterCall: (done) => {
      if (done % 1000 === 0) io.out(`${done}/${options.calls} calls`);
    },
  });
  io.out(soakTable(report));
  for (const message of report.failureMessages) io.out(`FAILED CALL ${message}`);
  if (options.json) writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  io.out(
    `qattn-soak: ${report.calls} calls + ${report.burstCalls} in bursts in ${report.seconds.toFixed(1)} s, ${report.failures} failed call(s), ` +
      `${report.metrics.filter((m) => !m.ok).length} leak(s): ${report.ok ? 'ok' : 'FAILED'}`,
  );
  return report.ok ? 0 : 1;
}
