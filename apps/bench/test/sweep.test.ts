import { describe, expect, it } from 'vitest';
import { type Algorithm, float32Algorithm } from '../src/algorithms.js';
import { createInputSource } from '../src/inputs.js';
import { attentionOps, type CellShape, tops } from '../src/metrics.js';
import { loadReferencePackage } from '../src/packages.js';
import type { AlgorithmId, BackendName } from '../src/presets.js';
import { executionOrder, runSweep, type SweepConfig } from '../src/sweep.js';

const shapes: CellShape[] = [
  { batch: 1, heads: 2, kvHeads: 1, seqQ: 8, seqKV: 24, headDim: 16, causal: true },
  { batch: 1, heads: 2, kvHeads: 2, seqQ: 16, seqKV: 16, headDim: 16, causal: false },
  { batch: 2, heads: 4, kvHeads: 4, seqQ: 32, seqKV: 32, headDim: 16, causal: false },
];

const baseConfig: SweepConfig = {
  shapes,
  algorithms: ['flash-int8-pv-int8', 'float32'],
  backends: 'auto',
  warmup: 0,
  warmupMs: 0,
  repeats: 2,
  seed: 3,
  accuracy: true,
  accuracyRows: 128,
  cpuMaxGop: 100,
};

const available = (backends: BackendName[]) => async () =>
  Object.fromEntries((['cpu', 'webgpu', 'cuda'] as const).map((b) => [b, backends.includes(b) ? { available: true } : { available: false, reason: `no ${b} here` }])) as Record<
    BackendName,
    { available: boolean; reason?: string }
  >;

/** A fake kernel: fixed GPU-style timings; its "device" is lost from the second shape on. */
function flakyGpuAlgorithm(id: AlgorithmId): Algorithm {
  let calls = 0;
  const baseline = float32Algorithm();
  return {
    id,
    description: 'fake',
    source: 'test',
    backends: available(['cpu', 'cuda']),
    async time(request) {
      if (request.backend === 'cuda' && ++calls > 1) {
        throw Object.assign(new Error('CUDA error: device lost\nstack…'), { code: 'ERR_QATTN_DEVICE' });
      }
      return { medianMs: 2, minMs: 1.5, samplesMs: [2, 2.5, 1.5], quantMs: 0.5, attnMs: 1.5, peakDeviceBytes: 1024, timer: 'events' };
    },
    run: (inputs, shape, causal) => baseline.run(inputs, shape, causal, 'cpu'),
  };
}

describe('runSweep', async () => {
  const reference = await loadReferencePackage();
  const inputs = createInputSource(reference, 'llm');

  it('reports a backend that fails mid-sweep in its cells, with the error code, and carries on', async () => {
    // cuda first: the cpu pass comes after the failure.
    const { cells, backends } = await runSweep(
      { ...baseConfig, backends: ['cuda', 'cpu'] },
      { algorithms: [flakyGpuAlgorithm('flash-int8-pv-int8'), float32Algorithm()], reference, inputs },
    );
    expect(backends.filter((b) => b.available).map((b) => `${b.algorithm}:${b.backend}`)).toEqual(['flash-int8-pv-int8:cpu', 'flash-int8-pv-int8:cuda', 'float32:cpu']);
    const cuda = cells.filter((c) => c.backend === 'cuda');
    // No float32 cells on cuda: the baseline is a CPU kernel.
    expect(cuda.map((c) => c.algorithm)).toEqual(['flash-int8-pv-int8', 'flash-int8-pv-int8', 'flash-int8-pv-int8']);
    expect(cuda.map((c) => c.status)).toEqual(['ok', 'error', 'error']);
    expect(cuda[1].error).toEqual({ code: 'ERR_QATTN_DEVICE', message: 'CUDA error: device lost' });
    // Everything after the failure still ran.
    expect(cells.slice(0, 3).every((c) => c.backend === 'cuda')).toBe(true);
    expect(cells.filter((c) => c.backend === 'cpu' && c.status === 'ok')).toHaveLength(6);
  });

  it('computes TOPS from the median, kernel TOPS from attnMs, and keeps the hook numbers', async () => {
    const { cells } = await runSweep({ ...baseConfig, backends: ['cuda'] }, { algorithms: [flakyGpuAlgorithm('flash-int8-pv-int8')], reference, inputs });
    const first = cells[0];
    expect(first.ops).toBe(attentionOps(shapes[0]));
    expect(first.tops).toBe(tops(first.ops, 2));
    expect(first.topsAttention).toBe(tops(first.ops, 1.5));
    expect(first.timing).toMatchObject({ quantMs: 0.5, peakDeviceBytes: 1024, timer: 'events' });
  });

  it('measures accuracy against the float64 reference on a sub-problem (the float baseline is exact to fp32)', async () => {
    const { cells } = await runSweep({ ...baseConfig, algorithms: ['float32'] }, { algorithms: [float32Algorithm()], reference, inputs });
    for (const cell of cells) {
      expect(cell.status).toBe('ok');
      expect(cell.accuracy!.relL2).toBeLessThan(1e-6);
      expect(cell.accuracy!.cos).toBeGreaterThan(0.999999);
      expect(cell.accuracy!.subProblem.batch).toBe(1);
    }
    expect(cells[0].accuracy!.subProblem).toMatchObject({ heads: 2, kvHeads: 1, seqQ: 8, seqKV: 24, causal: true });
  });

  it('catches a wrong kernel: accuracy of a kernel that returns zeros is relL2 = 1', async () => {
    const broken: Algorithm = { ...float32Algorithm(), run: async (i) => new Float32Array(i.q.length) };
    const { cells } = await runSweep({ ...baseConfig, algorithms: ['float32'], shapes: [shapes[1]] }, { algorithms: [broken], reference, inputs });
    expect(cells[0].accuracy!.relL2).toBeCloseTo(1, 10);
  });

  it('marks unavailable backends and CPU cells above the work budget instead of running them', async () => {
    const { cells } = await runSweep(
      { ...baseConfig, backends: ['cpu', 'webgpu'], cpuMaxGop: attentionOps(shapes[1]) / 1e9 },
      { algorithms: [flakyGpuAlgorithm('flash-int8-pv-int8'), float32Algorithm()], reference, inputs },
    );
    const webgpu = cells.filter((c) => c.backend === 'webgpu');
    expect(webgpu.every((c) => c.status === 'unavailable' && c.error!.message === 'no webgpu here')).toBe(true);
    const big = cells.filter((c) => c.backend === 'cpu' && c.shape === shapes[2]);
    expect(big.map((c) => c.status)).toEqual(['skipped', 'skipped']);
    expect(big[0].error!.code).toBe('ERR_BENCH_CPU_BUDGET');
  });

  it('reports progress monotonically up to the total', async () => {
    const seen: Array<[number, number]> = [];
    await runSweep({ ...baseConfig, algorithms: ['float32'], accuracy: false }, {
      algorithms: [float32Algorithm()],
      reference,
      inputs,
      progress: { update: (done, total) => void seen.push([done, total]) },
    });
    expect(seen).toHaveLength(shapes.length + 1);
    for (let i = 1; i < seen.length; i++) expect(seen[i][0]).toBeGreaterThan(seen[i - 1][0]);
    expect(seen.at(-1)![0]).toBe(seen.at(-1)![1]);
  });
});

describe('a backend without a benchmark hook', async () => {
  const reference = await loadReferencePackage();
  const inputs = createInputSource(reference, 'llm');
  it('is reported unsupported for timing but still gets its accuracy measured', async () => {
    const baseline = float32Algorithm();
    const hookless: Algorithm = {
      ...baseline,
      backends: available(['cpu', 'webgpu']),
      time: async () => {
        throw Object.assign(new Error('no hook'), { code: 'ERR_BENCH_NO_HOOK' });
      },
      run: (i, shape, causal) => baseline.run(i, shape, causal, 'cpu'),
    };
    const { cells } = await runSweep({ ...baseConfig, algorithms: ['float32'], backends: ['cpu'], shapes: [shapes[0]] }, { algorithms: [hookless], reference, inputs });
    expect(cells[0].status).toBe('unsupported');
    expect(cells[0].timing).toBeUndefined();
    expect(cells[0].accuracy!.relL2).toBeLessThan(1e-6);
  });
});

describe('input generation across causal and non-causal cells', async () => {
  const reference = await loadReferencePackage();
  const source = createInputSource(reference, 'llm');
  const size = { batch: 1, heads: 2, kvHeads: 1, seqQ: 8, seqKV: 24, headDim: 16 };
  const other = { ...size, seqKV: 32 };
  // The paper preset's order: causal is the outer grid dimension, so a size's two cells are not adjacent in the plan.
  const gridShapes: CellShape[] = [
    { ...size, causal: false },
    { ...other, causal: false },
    { ...size, causal: true },
    { ...other, causal: true },
  ];

  it('executionOrder runs a backend\'s cells of one input size together, in first-seen order', () => {
    const plan = ['cpu', 'cuda'].flatMap((backend) => gridShapes.map((shape) => ({ shape, backend: backend as BackendName })));
    expect(executionOrder(plan)).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });

  it('generates each size once per backend pass and keeps the cells in plan order', async () => {
    const generated: string[] = [];
    const counting = { name: source.name, generate: (shape: Parameters<typeof source.generate>[0], seed: number) => {
      generated.push(`${shape.seqKV}`);
      return source.generate(shape, seed);
    } };
    const timed: boolean[] = [];
    const recorder: Algorithm = {
      ...float32Algorithm(),
      backends: available(['cpu']),
      async time(request) {
        await request.inputs();
        timed.push(request.causal);
        return { medianMs: 1, minMs: 1, samplesMs: [1], timer: 'host' };
      },
    };
    const { cells } = await runSweep(
      { ...baseConfig, algorithms: ['float32'], backends: ['cpu'], shapes: gridShapes, accuracy: false },
      { algorithms: [recorder], reference, inputs: counting },
    );
    expect(generated).toEqual(['24', '32']);
    expect(timed).toEqual([false, true, false, true]);
    expect(cells.map((c) => [c.shape.seqKV, c.shape.causal])).toEqual([[24, false], [32, false], [24, true], [32, true]]);
  });
});
