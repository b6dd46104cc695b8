import { createAlgorithms } from '../algorithms.js';
import { loadKernelPackages, loadReferencePackage, loadRuntimePackages } from '../packages.js';
import { createProgressBar } from '../progress.js';
import { filterCandidates, scheduleCandidates } from '../schedules/candidates.js';
import { runScheduleSweep, type ScheduleTarget } from '../schedules/sweep.js';
import { createFloatBaseline, createScheduleTarget, type TargetContext } from '../schedules/targets.js';
import { probeBackends } from '../sweep.js';
import { buildReport, EXIT_CELL_ERRORS, type RunContext, writeOutputs } from './context.js';
import { describeBackends } from './sweep.js';

/**
 * `--preset schedules`: every WebGPU schedule candidate × the shapes (src/schedules/). Without a WebGPU adapter it
 * says so and exits 0; with `--strict`, a candidate that disagrees with the CPU oracle or fails exits 3.
 */
export async function runSchedulesMode(ctx: RunContext): Promise<number> {
  const { config, output, io } = ctx;
  const [packages, reference, runtimes] = await Promise.all([loadKernelPackages(), loadReferencePackage(), loadRuntimePackages()]);
  const algorithms = createAlgorithms(packages, config.extraOptions).filter((a) => a.id !== 'float32' && config.algorithms.includes(a.id));
  const backendReport = await probeBackends(algorithms);
  const candidates = filterCandidates(scheduleCandidates(), config.candidates);
  io.stdout(
    `qattn-bench: preset ${config.preset}, ${config.shapes.length} shape(s) × ${candidates.length} schedule candidate(s) of ${algorithms.map((a) => a.id).join(', ') || 'no algorithm'} on webgpu; ` +
      `warmup ${config.warmup} (≥ ${config.warmupMs} ms), repeats ${config.repeats}\nbackends:\n${describeBackends(backendReport).join('\n')}\n`,
  );
  const available = algorithms.filter((a) => backendReport.some((r) => r.algorithm === a.id && r.backend === 'webgpu' && r.available));
  const base = { sweptBackends: ['webgpu' as const], inputs: 'benchmark data of the packages (uniform), check case: reference:llm', backends: backendReport };
  if (available.length === 0 || !runtimes.webgpu) {
    const reason = runtimes.webgpuError ?? [...new Set(backendReport.filter((r) => r.backend === 'webgpu').map((r) => r.reason ?? 'unavailable'))].join('; ');
    io.stdout(`schedules: no WebGPU adapter here, nothing to sweep (${reason})\n`);
    await writeOutputs(buildReport(ctx, base), output, io);
    return 0;
  }
  const gpu = await runtimes.webgpu.acquireGpu();
  // A software adapter (lavapipe, SwiftShader) compiles each candidate's WGSL with LLVM on the host — up to half a
  // minute at headDim 128 — and its timings say nothing about GPU schedules: only the rule runs unless asked.
  if (gpu.software && !config.candidates) {
    candidates.splice(1);
    io.stdout('schedules: software adapter: timing the rule only (pass --candidates to time pinned schedules anyway)\n');
  }
  const targetContext: TargetContext = { packages, runtimes, reference, gpu, extraOptions: config.extraOptions };
  const targets: ScheduleTarget[] = [];
  for (const algorithm of available) {
    if (algorithm.id === 'float32') continue;
    const target = createScheduleTarget(algorithm.id, targetContext);
    if ('unsupported' in target) io.stderr(`schedules: ${algorithm.id}: ${target.unsupported}\n`);
    else targets.push(target);
  }
  const bar = createProgressBar(output.progress, 'schedules', io.progressStream);
  const result = await runScheduleSweep(config.shapes, targets, createFloatBaseline(targetContext), { warmup: config.warmup, warmupMs: config.warmupMs, repeats: config.repeats, candidates }, (done, total, label) =>
    bar.update(done, total, label),
  );
  bar.stop();
  const report = buildReport(ctx, { ...base, schedules: { ...(gpu.adapter ? { device: gpu.adapter } : {}), ...result } });
  await writeOutputs(report, output, io);
  const failed = result.checks.filter((c) => c.status !== 'ok' || !c.pass).length + result.rows.filter((r) => r.status === 'error').length;
  return output.strict && failed ? EXIT_CELL_ERRORS : 0;
}
