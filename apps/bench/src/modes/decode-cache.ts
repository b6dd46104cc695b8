import type { TurboDecodeOptions } from '@qattn/turbo-attn';
import { REFERENCE_OPS_BUDGET } from '../accuracy.js';
import { type DecodeCacheApi, DecodeCacheApiError, loadDecodeCacheApi } from '../decode-cache/api.js';
import { compareDecodePeers, type DecodePeersReport, runDecodePeers } from '../decode-cache/peers.js';
import { decodeCacheSettings } from '../decode-cache/report.js';
import { type BackendVerdict, DECODE_ALGORITHMS, type DecodeAlgorithm, planRows } from '../decode-cache/rows.js';
import { runDecodeCache, toCellError } from '../decode-cache/run.js';
import { failedTargets, judgeTargets } from '../decode-cache/targets.js';
import { createWgslBaselineRunner } from '../decode-cache/wgsl-baseline.js';
import { createInputSource } from '../inputs.js';
import { shapeLabel } from '../metrics.js';
import { loadReferencePackage, loadRuntimePackages } from '../packages.js';
import { BACKEND_NAMES, type BackendName } from '../presets.js';
import { createProgressBar } from '../progress.js';
import type { BackendReport } from '../sweep.js';
import { buildReport, EXIT_CELL_ERRORS, type RunContext, UsageError, writeOutputs } from './context.js';

/** Most query tokens of one decode step (turbo-attn's MAX_DECODE_QUERY_TOKENS). */
const MAX_QUERY_TOKENS = 16;
/** Prompts are appended in chunks of at most this many tokens: bounded staging memory per append on a GPU. */
export const FILL_CHUNK_TOKENS = 16384;

/**
 * Whether turboDecode runs over a cache of `backend` here: a one-token cache and one decode step. Only
 * `ERR_QATTN_BACKEND_UNAVAILABLE` (the cache or its decode cannot load) makes the backend unavailable; any other
 * failure is left to the rows, which report it with their own shapes.
 */
export async function probeDecodeBackend(api: DecodeCacheApi, backend: BackendName, headDim: number): Promise<BackendVerdict> {
  let cache: Awaited<ReturnType<DecodeCacheApi['createKVCache']>> | undefined;
  try {
    cache = await api.createKVCache({ batch: 1, kvHeads: 1, headDim, backend });
    const token = new Float32Array(headDim).fill(0.5); // [1, 1, 1, headDim]
    await cache.append(token, token);
    await api.turboDecode(new Float32Array(headDim).fill(0.25), cache, {});
    return { available: true };
  } catch (err) {
    const error = toCellError(err);
    if (error.code === 'ERR_QATTN_BACKEND_UNAVAILABLE') return { available: false, reason: error.message };
    return { available: true, reason: `the probe failed (${error.code}): ${error.message}` };
  } finally {
    cache?.dispose();
  }
}

/** The decode variants of `-a`: turbo-attn (SAS, the default) and turbo-attn-exp2; other algorithms have no decode. */
function decodeAlgorithms(selected: readonly string[]): DecodeAlgorithm[] {
  const chosen = DECODE_ALGORITHMS.filter((a) => selected.includes(a));
  const other = selected.filter((a) => !(DECODE_ALGORITHMS as readonly string[]).includes(a));
  if (chosen.length === 0 || other.length > 0) {
    throw new UsageError(`the decode-cache preset measures turboDecode: -a ${DECODE_ALGORITHMS.join(' and/or ')}${other.length ? ` (not ${other.join(', ')})` : ''}`);
  }
  return chosen;
}

/**
 * `--preset decode-cache` (and `decode-cache-smoke`): decode steps over the quantized KV cache on every requested
 * backend × shape × cache kind, with PyTorch SDPA decode and a device copy as peers (`--peers`), the plain f32/f16 WGSL
 * decode on the same adapter wherever webgpu rows run, and issue 9's targets.
 * An unavailable backend is a row per shape and cache saying why; with `--strict`, a failed row or a missed target
 * exits 3.
 */
export async function runDecodeCacheMode(ctx: RunContext, dropped: string[]): Promise<number> {
  const { config, output, io } = ctx;
  const algorithms = decodeAlgorithms(config.algorithms);
  const caches = config.caches ?? ['int4'];
  const bad = config.shapes.filter((s) => s.seqQ > MAX_QUERY_TOKENS || s.seqQ > s.seqKV);
  if (bad.length) throw new UsageError(`decode-cache: 1 to ${MAX_QUERY_TOKENS} query tokens per step, at most the key length (not ${bad.map(shapeLabel).join(', ')})`);
  // The new tokens are causal among themselves (turboDecode's bottom-right alignment); one token sees every key.
  const shapes = config.shapes.map((s) => ({ ...s, causal: s.seqQ > 1 }));
  for (const line of dropped) io.stderr(`warning: skipped ${line}\n`);

  const [reference, runtimes] = await Promise.all([loadReferencePackage(), loadRuntimePackages()]);
  const inputs = createInputSource(reference, config.data);
  let api: DecodeCacheApi | undefined;
  let apiError: string | undefined;
  try {
    api = await loadDecodeCacheApi();
  } catch (err) {
    if (!(err instanceof DecodeCacheApiError)) throw err;
    apiError = err.message;
  }
  const candidates: BackendName[] = config.backends === 'auto' ? [...BACKEND_NAMES] : config.backends;
  const verdicts: Partial<Record<BackendName, BackendVerdict>> = {};
  for (const backend of candidates) {
    verdicts[backend] = api ? await probeDecodeBackend(api, backend, shapes[0].headDim) : { available: false, reason: apiError };
  }
  const backends = config.backends === 'auto' ? candidates.filter((b) => verdicts[b]!.available) : candidates;
  const backendReport: BackendReport[] = algorithms.flatMap((algorithm) =>
    candidates.map((backend) => ({ algorithm, backend, available: verdicts[backend]!.available, ...(verdicts[backend]!.reason ? { reason: verdicts[backend]!.reason } : {}) })),
  );

  io.stdout(
    `qattn-bench: preset ${config.preset}, ${shapes.length} shape(s) × ${caches.length} cache kind(s) (${caches.join(', ')}) × ${algorithms.join(', ')} on ${backends.join(', ') || 'no backend'}; ` +
      `warmup ${config.warmup} (≥ ${config.warmupMs} ms on GPUs), repeats ${config.repeats}${backends.some((b) => b !== 'cpu') ? `, ${config.calls} device-resident steps` : ''}, inputs ${inputs.name}` +
      `${backends.includes('webgpu') && verdicts.webgpu?.available ? '; plain WGSL decode (f32, f16) beside the webgpu rows' : ''}\n` +
      `backends (turboDecode over a cache):\n${candidates.map((b) => `  ${b.padEnd(7)} ${verdicts[b]!.available ? 'available' : 'unavailable'}${verdicts[b]!.reason ? `: ${verdicts[b]!.reason}` : ''}`).join('\n')}\n`,
  );

  const planned = planRows(shapes, backends, caches, algorithms, verdicts, config.cpuMaxGop);
  // The WGSL baselines run on every shape that has webgpu rows, after them, with the same draw and reference.
  const wgsl = backends.includes('webgpu') && verdicts.webgpu?.available ? createWgslBaselineRunner({ warmup: config.warmup, warmupMs: config.warmupMs, repeats: config.repeats }) : undefined;
  const options = config.extraOptions as TurboDecodeOptions;
  const bar = createProgressBar(output.progress, 'decode-cache', io.progressStream);
  const rows = api
    ? await runDecodeCache(
        planned,
        {
          warmup: config.warmup,
          warmupMs: config.warmupMs,
          repeats: config.repeats,
          calls: config.calls,
          seed: config.seed,
          accuracy: config.accuracy,
          options,
          fillChunkTokens: FILL_CHUNK_TOKENS,
          referenceOpsBudget: REFERENCE_OPS_BUDGET,
        },
        {
          api,
          reference,
          inputs,
          ...(runtimes.cuda ? { cudaRuntime: runtimes.cuda.getRuntime } : {}),
          ...(runtimes.webgpu ? { webgpuRuntime: () => runtimes.webgpu! } : {}),
          ...(wgsl
            ? {
                shapePeers: async (shape, shapeInputs, score, ran) => {
                  if (ran.has('webgpu')) await wgsl.measure(shape, shapeInputs, score);
                },
              }
            : {}),
          onProgress: (done, total, label) => bar.update(done, total, label),
        },
      )
    : planned;
  bar.stop();

  let peers: DecodePeersReport | undefined;
  if (output.peers) {
    const peerBar = createProgressBar(output.progress, 'peers', io.progressStream);
    peers = await runDecodePeers(shapes, {
      python: output.python,
      warmup: config.warmup,
      warmupMs: config.warmupMs,
      repeats: config.repeats,
      seed: config.seed,
      accuracyRows: config.accuracyRows,
      onProgress: (done, total, label) => peerBar.update(done, total, label),
    });
    peerBar.stop();
    if (peers.status !== 'ok') io.stderr(`peers: ${peers.status}: ${peers.reason ?? ''} (the qattn results stand on their own)\n`);
  }
  const wgslBaselines = wgsl?.report();
  const comparisons = compareDecodePeers(rows, peers?.cells ?? [], wgslBaselines?.cells ?? []);
  const targets = judgeTargets(rows, comparisons);
  const decodeCache = {
    settings: decodeCacheSettings({ warmup: config.warmup, repeats: config.repeats, calls: config.calls, caches, fillChunkTokens: FILL_CHUNK_TOKENS, options }),
    rows,
    ...(peers ? { peers } : {}),
    ...(wgslBaselines ? { wgslBaselines } : {}),
    comparisons,
    targets,
  };
  const report = buildReport(ctx, { sweptBackends: backends, inputs: inputs.name, backends: backendReport, decodeCache });
  // Without nvidia-smi (containers), torch still names the GPU the peers ran on.
  if (report.machine.gpus.length === 0 && peers?.device && peers.device !== 'cpu') report.machine.gpus.push({ name: peers.device, source: 'torch' });
  await writeOutputs(report, output, io);

  const failedRows = rows.filter((r) => r.status === 'error').length + (wgslBaselines?.cells.filter((c) => c.status === 'error').length ?? 0);
  const missed = failedTargets(targets).length;
  if (failedRows) io.stderr(`${failedRows} row(s) failed; see the notes above\n`);
  if (missed) io.stderr(`${missed} target check(s) missed; see the targets table\n`);
  return output.strict && (failedRows || missed) ? EXIT_CELL_ERRORS : 0;
}
