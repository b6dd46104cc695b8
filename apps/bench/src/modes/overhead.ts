import { createAlgorithms } from '../algorithms.js';
import { createInputSource } from '../inputs.js';
import { runOverhead } from '../overhead/run.js';
import { createOverheadSubjects } from '../overhead/subjects.js';
import { formatTrace } from '../overhead/trace.js';
import { type GpuBackendName, loadKernelPackages, loadReferencePackage, loadRuntimePackages } from '../packages.js';
import { createProgressBar } from '../progress.js';
import { shapeLabel } from '../metrics.js';
import { probeBackends } from '../sweep.js';
import { buildReport, EXIT_CELL_ERRORS, type RunContext, UsageError, writeOutputs } from './context.js';
import { describeBackends } from './sweep.js';

/** The GPU backends an overhead run measures: the requested ones without cpu, or both with `auto`. */
export function overheadBackends(requested: RunContext['config']['backends']): GpuBackendName[] {
  const gpu: GpuBackendName[] = requested === 'auto' ? ['cuda', 'webgpu'] : requested.filter((b): b is GpuBackendName => b !== 'cpu');
  if (gpu.length === 0) throw new UsageError('the overhead preset measures GPU backends: pass --backends cuda,webgpu (or auto)');
  return gpu;
}

/**
 * `--preset overhead`: host overhead per call and leaks over many sequential calls (src/overhead/). Without a GPU
 * backend it says so and exits 0; with `--strict`, a missed target or a leak exits 3.
 */
export async function runOverheadMode(ctx: RunContext): Promise<number> {
  const { config, output, io } = ctx;
  const backends = overheadBackends(config.backends);
  const [packages, reference, runtimes] = await Promise.all([loadKernelPackages(), loadReferencePackage(), loadRuntimePackages()]);
  const algorithms = createAlgorithms(packages, config.extraOptions).filter((a) => a.id !== 'float32' && config.algorithms.includes(a.id));
  if (algorithms.length === 0) throw new UsageError('the overhead preset measures the kernel algorithms; float32 has no GPU entry');
  const inputs = createInputSource(reference, config.data);
  const backendReport = await probeBackends(algorithms);
  const subjects = createOverheadSubjects(algorithms, packages, backends, runtimes, config.extraOptions);

  io.stdout(
    `qattn-bench: preset ${config.preset}, ${config.shapes.map(shapeLabel).join(', ')} × ${algorithms.length} algorithm(s) on ${backends.join(', ')}; ` +
      `${config.calls} calls per entry after ${config.warmup} warm-up calls\nbackends:\n${describeBackends(backendReport).join('\n')}\n`,
  );
  const bar = createProgressBar(output.progress, 'overhead', io.progressStream);
  const traces: string[] = [];
  const overhead = await runOverhead(
    config.shapes,
    { warmup: config.warmup, calls: config.calls, kernelRepeats: config.repeats },
    {
      subjects,
      inputs: (shape) => inputs.generate(shape, config.seed),
      onProgress: (done, total, label) => bar.update(done, total, label),
      // QATTN_CUDA_TRACE=1: where each entry's host round trip goes, stage by stage (printed after the table).
      onTrace: (title, summary) => traces.push(formatTrace(title, summary)),
    },
  );
  bar.stop();

  const measured = overhead.rows.filter((r) => r.status !== 'unavailable');
  if (measured.length === 0) {
    const reasons = [...new Set(overhead.rows.map((r) => `${r.backend}: ${r.error?.message ?? 'unavailable'}`))];
    io.stdout(`overhead: no GPU backend loads here, nothing to measure (${reasons.join('; ')})\n`);
  }
  const report = buildReport(ctx, { sweptBackends: backends, inputs: inputs.name, backends: backendReport, overhead });
  await writeOutputs(report, output, io);
  for (const trace of traces) io.stdout(trace);
  const failed = overhead.rows.filter((r) => r.pass === false).length;
  if (failed) io.stderr(`${failed} overhead row(s) missed a target, leaked or failed; see the table\n`);
  return output.strict && failed ? EXIT_CELL_ERRORS : 0;
}
