import { createAlgorithms } from '../algorithms.js';
import { createInputSource } from '../inputs.js';
import { loadKernelPackages, loadReferencePackage } from '../packages.js';
import { ortWebRatios, runOrtWebPeers } from '../ort-web/peer.js';
import { peerRatios, runPeers } from '../peers.js';
import { BACKEND_NAMES } from '../presets.js';
import { createProgressBar } from '../progress.js';
import type { BenchReport } from '../report/report.js';
import { type BackendReport, probeBackends, runSweep, sweptBackends } from '../sweep.js';
import { buildReport, EXIT_CELL_ERRORS, type RunContext, writeOutputs } from './context.js';

/** "cpu: flash-int8-pv-int8, … | webgpu: unavailable (reason)": the backend status printed before a run. */
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
 * The sweep (presets quick, paper, decode, profile): algorithms × backends × shapes, then the PyTorch peers on the
 * same shapes with `--peers`.
 */
export async function runSweepMode(ctx: RunContext, dropped: string[]): Promise<number> {
  const { config, output, io } = ctx;
  const [packages, reference] = await Promise.all([loadKernelPackages(), loadReferencePackage()]);
  const algorithms = createAlgorithms(packages, config.extraOptions);
  const inputs = createInputSource(reference, config.data);
  const selected = algorithms.filter((a) => config.algorithms.includes(a.id));
  const backendReport = await probeBackends(selected);
  const swept = sweptBackends(config.backends, backendReport);

  io.stdout(
    `qattn-bench: preset ${config.preset}, ${config.shapes.length} shape(s) × ${selected.length} algorithm(s) on ${swept.join(', ') || 'no backend'}; ` +
      `warmup ${config.warmup} (≥ ${config.warmupMs} ms on GPUs), repeats ${config.repeats}, inputs ${inputs.name}\nbackends:\n${describeBackends(backendReport).join('\n')}\n`,
  );
  for (const line of dropped) io.stderr(`warning: skipped ${line}\n`);

  const bar = createProgressBar(output.progress, 'sweep', io.progressStream);
  const { cells } = await runSweep(config, { algorithms, reference, inputs, progress: bar });
  bar.stop();

  let peers: BenchReport['peers'];
  if (output.peers) {
    const peerBar = createProgressBar(output.progress, 'peers', io.progressStream);
    peers = await runPeers(config.shapes, {
      python: output.python,
      warmup: config.warmup,
      warmupMs: config.warmupMs,
      repeats: config.repeats,
      seed: config.seed,
      accuracyRows: config.accuracyRows,
      onProgress: (done, total, label) => peerBar.update(done, total, label),
    });
    peerBar.stop();
    peers.ratios = peerRatios(cells, peers.cells);
    if (peers.status !== 'ok') io.stderr(`peers: ${peers.status}: ${peers.reason ?? ''} (the qattn results stand on their own)\n`);
  }

  // onnxruntime-web's WebGPU attention on the adapter qattn's webgpu cells ran on: only when those cells are in the run.
  let ortWeb: BenchReport['ortWeb'];
  if (output.peers && swept.includes('webgpu')) {
    const ortBar = createProgressBar(output.progress, 'onnxruntime-web', io.progressStream);
    ortWeb = await runOrtWebPeers(config.shapes, {
      warmup: config.warmup,
      warmupMs: config.warmupMs,
      repeats: config.repeats,
      seed: config.seed,
      accuracyRows: config.accuracyRows,
      reference,
      onProgress: (done, total, label) => ortBar.update(done, total, label),
    });
    ortBar.stop();
    ortWeb.ratios = ortWebRatios(cells, ortWeb.cells);
    if (ortWeb.status !== 'ok') io.stderr(`onnxruntime-web peer: ${ortWeb.status}: ${ortWeb.reason ?? ''}\n`);
  }

  const report = buildReport(ctx, { sweptBackends: swept, inputs: inputs.name, backends: backendReport, cells, peers, ortWeb });
  await writeOutputs(report, output, io);
  const failed = cells.filter((c) => c.status === 'error').length;
  if (failed) io.stderr(`${failed} cell(s) failed; see the notes above\n`);
  return output.strict && failed ? EXIT_CELL_ERRORS : 0;
}
