import { createAlgorithms, type InputTensors } from '../algorithms.js';
import { createInputSource } from '../inputs.js';
import type { CellShape } from '../metrics.js';
import { type ApiCudaRuntime, loadKernelPackages, loadReferencePackage, loadRuntimePackages } from '../packages.js';
import { KERNEL_ALGORITHMS } from '../algorithms.js';
import { caseOptions, type KernelAlgorithmId, runSanitize, SANITIZE_CASES, type SanitizeCase } from '../sanitize.js';
import { probeBackends } from '../sweep.js';
import { buildReport, EXIT_CELL_ERRORS, type RunContext, writeOutputs } from './context.js';

const apiShape = (s: CellShape) => ({ batch: s.batch, heads: s.heads, kvHeads: s.kvHeads, seqQ: s.seqQ, seqKV: s.seqKV, headDim: s.headDim });

/**
 * `--preset sanitize`: the compute-sanitizer workload (src/sanitize.ts) on cuda. Exits 3 when any call fails. Without
 * CUDA it says so and exits 0, or 3 when `QATTN_EXPECT_CUDA=1` (the GPU host, where a missing device is a failure).
 */
export async function runSanitizeMode(ctx: RunContext): Promise<number> {
  const { config, output, io } = ctx;
  const expectCuda = process.env.QATTN_EXPECT_CUDA === '1';
  const [packages, reference, runtimes] = await Promise.all([loadKernelPackages(), loadReferencePackage(), loadRuntimePackages()]);
  const algorithms = createAlgorithms(packages, config.extraOptions).filter((a) => a.id !== 'float32' && config.algorithms.includes(a.id));
  const backendReport = await probeBackends(algorithms);
  const onCuda = new Set(backendReport.filter((r) => r.backend === 'cuda' && r.available).map((r) => r.algorithm));
  const base = { sweptBackends: ['cuda' as const], inputs: `reference:${config.data}`, backends: backendReport };
  const missing = algorithms.filter((a) => !onCuda.has(a.id));
  for (const algorithm of missing) {
    const reason = backendReport.find((r) => r.algorithm === algorithm.id && r.backend === 'cuda')?.reason ?? 'unavailable';
    io.stdout(`sanitize ${algorithm.id}: cuda unavailable (${reason})${expectCuda ? ' — a failure with QATTN_EXPECT_CUDA=1' : ''}\n`);
  }
  const cases = SANITIZE_CASES.filter((c) => onCuda.has(c.algorithm));
  let runtime: ApiCudaRuntime | undefined;
  const inputs = createInputSource(reference, config.data);
  const results = await runSanitize(cases, {
    inputs: (shape) => inputs.generate(shape, config.seed),
    async run(c: SanitizeCase, tensors: InputTensors) {
      const pkg = packages[KERNEL_ALGORITHMS[c.algorithm as KernelAlgorithmId].pkg];
      if (c.entry === 'typed') {
        if (!pkg.attention) throw new Error(`${pkg.name} exports no attention function`);
        return pkg.attention(tensors.q, tensors.k, tensors.v, apiShape(c.shape), { ...caseOptions(c), backend: 'cuda' });
      }
      const entry = pkg.deviceEntries?.cuda;
      if (!entry || !runtimes.cuda) throw Object.assign(new Error(`${pkg.name} has no cuda device entry`), { code: 'ERR_QATTN_UNSUPPORTED' });
      runtime ??= runtimes.cuda.getRuntime();
      const { batch, heads, kvHeads, seqQ, seqKV, headDim } = c.shape;
      const q = await runtime.upload(tensors.q, 'float32', [batch, heads, seqQ, headDim]);
      const k = await runtime.upload(tensors.k, 'float32', [batch, kvHeads, seqKV, headDim]);
      const v = await runtime.upload(tensors.v, 'float32', [batch, kvHeads, seqKV, headDim]);
      try {
        const out = await entry(q, k, v, apiShape(c.shape), caseOptions(c));
        try {
          const host = new Float32Array(tensors.q.length);
          await runtime.download(out, host);
          return host;
        } finally {
          out.dispose();
        }
      } finally {
        for (const t of [q, k, v]) t.dispose();
      }
    },
    async oracle(c, tensors) {
      const pkg = packages[KERNEL_ALGORITHMS[c.algorithm as KernelAlgorithmId].pkg];
      return pkg.attention?.(tensors.q, tensors.k, tensors.v, apiShape(c.shape), { ...caseOptions(c), backend: 'cpu' });
    },
    relL2: (actual, expected) => reference.compare?.(actual, expected).relL2 ?? Number.NaN,
    log: (line) => io.stdout(`${line}\n`),
  });
  const report = buildReport(ctx, { ...base, sanitize: { results } });
  await writeOutputs(report, output, io);
  const failed = results.filter((r) => r.status === 'failed').length + (expectCuda ? missing.length : 0);
  if (cases.length === 0 && !expectCuda) io.stdout('sanitize: no algorithm runs on cuda here, nothing to check\n');
  return failed ? EXIT_CELL_ERRORS : 0;
}
