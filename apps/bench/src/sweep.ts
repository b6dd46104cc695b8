import { type Accuracy, accuracySubProblem, type AccuracySubProblem, createReferenceCache } from './accuracy.js';
import type { Algorithm, BackendAvailability, InputTensors, Timing } from './algorithms.js';
import type { InputSource } from './inputs.js';
import { attentionOps, type CellShape, shapeLabel, tops } from './metrics.js';
import type { ReferencePackage } from './packages.js';
import { type AlgorithmId, type BackendName, BACKEND_NAMES } from './presets.js';

/** What the sweep runs; built from a preset and the flags by the CLI. */
export interface SweepConfig {
  shapes: CellShape[];
  algorithms: AlgorithmId[];
  /** Explicit backends, or `'auto'`: every backend on which at least one selected algorithm is available. */
  backends: BackendName[] | 'auto';
  warmup: number;
  /** Least wall time of each GPU timing's warm-up (`--warmup-ms`; 0: `warmup` calls only). */
  warmupMs: number;
  repeats: number;
  seed: number;
  accuracy: boolean;
  /** Upper bound of the query rows of the accuracy sub-problem. */
  accuracyRows: number;
  /** CPU cells above this many giga-operations are skipped. */
  cpuMaxGop: number;
}

/**
 * Outcome of a cell: `ok`; `error` (the backend failed: code and message kept, the sweep goes on); `unavailable`
 * (the backend does not load here); `unsupported` (valid but not implemented by that backend); `skipped` (by the
 * bench: CPU work above --cpu-max-gop).
 */
export type CellStatus = 'ok' | 'error' | 'unavailable' | 'unsupported' | 'skipped';

export interface CellError {
  code: string;
  message: string;
}

/** One (algorithm, backend, shape) measurement. */
export interface CellResult {
  algorithm: AlgorithmId;
  backend: BackendName;
  shape: CellShape;
  /** 4·B·H·visiblePairs·D. */
  ops: number;
  status: CellStatus;
  error?: CellError;
  timing?: Timing;
  /** ops / medianMs (quantization included). */
  tops?: number;
  /** ops / attnMs (attention kernel on pre-quantized inputs), when the backend reports attnMs. */
  topsAttention?: number;
  accuracy?: Accuracy & { subProblem: AccuracySubProblem };
  accuracyError?: CellError;
}

/** Availability of every selected (algorithm, backend) pair, printed at start and stored in the JSON. */
export interface BackendReport {
  algorithm: AlgorithmId;
  backend: BackendName;
  available: boolean;
  reason?: string;
}

export interface SweepProgress {
  /** Called before each cell with the work done so far (arbitrary units) and the total. */
  update(done: number, total: number, label: string): void;
}

export interface SweepDependencies {
  algorithms: Algorithm[];
  reference: ReferencePackage;
  inputs: InputSource;
  progress?: SweepProgress;
}

function toCellError(err: unknown): CellError {
  const candidate = err as { code?: unknown; message?: unknown };
  const code = typeof candidate?.code === 'string' ? candidate.code : 'ERR_BENCH_UNEXPECTED';
  const message = typeof candidate?.message === 'string' ? candidate.message : String(err);
  return { code, message: message.split('\n')[0] };
}

function statusOf(error: CellError): CellStatus {
  if (error.code === 'ERR_QATTN_BACKEND_UNAVAILABLE') return 'unavailable';
  if (error.code === 'ERR_QATTN_UNSUPPORTED' || error.code === 'ERR_BENCH_NO_HOOK' || error.code === 'ERR_BENCH_NO_API') return 'unsupported';
  return 'error';
}

/** Probes every selected algorithm's backends. */
export async function probeBackends(algorithms: Algorithm[]): Promise<BackendReport[]> {
  const out: BackendReport[] = [];
  for (const algorithm of algorithms) {
    const status = await algorithm.backends();
    for (const backend of BACKEND_NAMES) {
      const s: BackendAvailability = status[backend];
      out.push({ algorithm: algorithm.id, backend, available: s.available, ...(s.reason ? { reason: s.reason } : {}) });
    }
  }
  return out;
}

/** Backends the sweep visits: the explicit list, or every backend where some selected algorithm is available. */
export function sweptBackends(requested: BackendName[] | 'auto', report: BackendReport[]): BackendName[] {
  if (requested !== 'auto') return requested;
  return BACKEND_NAMES.filter((b) => report.some((r) => r.backend === b && r.available));
}

/** A rough relative cost of a cell so the progress bar's ETA is weighted by work, not by cell count. */
function cellWeight(ops: number, backend: BackendName, accuracy: boolean): number {
  const opsPerSecond = backend === 'cpu' ? 1e9 : backend === 'webgpu' ? 1e11 : 1e13;
  return ops / opsPerSecond + (accuracy ? 0.2 : 0) + 0.01;
}

/**
 * Runs the sweep: shapes × backends × algorithms. Every failure is caught and reported in its cell; nothing thrown
 * by a backend stops the sweep.
 */
export async function runSweep(config: SweepConfig, deps: SweepDependencies): Promise<{ backends: BackendReport[]; cells: CellResult[] }> {
  const selected = deps.algorithms.filter((a) => config.algorithms.includes(a.id));
  const backendReport = await probeBackends(selected);
  const backends = sweptBackends(config.backends, backendReport);
  const availability = (algorithm: AlgorithmId, backend: BackendName) =>
    backendReport.find((r) => r.algorithm === algorithm && r.backend === backend)!;
  const references = createReferenceCache(deps.reference, deps.inputs, config.seed);

  type Plan = { shape: CellShape; backend: BackendName; algorithm: Algorithm; ops: number; weight: number };
  const plan: Plan[] = [];
  // Backend-major so the table reads one backend at a time; the cpu inputs are regenerated per backend pass, which
  // costs far less than the cells themselves.
  for (const backend of backends) {
    for (const shape of config.shapes) {
      for (const algorithm of selected) {
        // The float baseline only exists on the CPU: no cell at all elsewhere rather than a column of "unavailable".
        if (algorithm.id === 'float32' && backend !== 'cpu') continue;
        const ops = attentionOps(shape);
        plan.push({ shape, backend, algorithm, ops, weight: cellWeight(ops, backend, config.accuracy) });
      }
    }
  }
  const total = plan.reduce((sum, p) => sum + p.weight, 0);
  let done = 0;
  const cells: CellResult[] = new Array(plan.length);
  // One set of inputs at a time, keyed by the tensor dims: causal and non-causal cells of a size share it.
  let cachedInputs: { key: string; tensors: InputTensors } | undefined;
  const inputsFor = (shape: CellShape) => async () => {
    const key = inputKey(shape);
    if (cachedInputs?.key !== key) {
      cachedInputs = undefined; // let the previous shape's arrays go before allocating the next
      cachedInputs = { key, tensors: deps.inputs.generate(shape, config.seed) };
    }
    return cachedInputs.tensors;
  };

  for (const index of executionOrder(plan)) {
    const { shape, backend, algorithm, ops, weight } = plan[index]!;
    deps.progress?.update(done, total, `${algorithm.id} ${backend} ${shapeLabel(shape)}`);
    const cell: CellResult = { algorithm: algorithm.id, backend, shape, ops, status: 'ok' };
    cells[index] = cell;
    const avail = availability(algorithm.id, backend);
    if (!avail.available) {
      cell.status = 'unavailable';
      cell.error = { code: 'ERR_QATTN_BACKEND_UNAVAILABLE', message: avail.reason ?? 'unavailable' };
    } else if (backend === 'cpu' && ops / 1e9 > config.cpuMaxGop) {
      cell.status = 'skipped';
      cell.error = { code: 'ERR_BENCH_CPU_BUDGET', message: `${(ops / 1e9).toFixed(1)} GOP > --cpu-max-gop ${config.cpuMaxGop}` };
    } else {
      await measureCell(cell, algorithm, config, inputsFor(shape), references);
    }
    done += weight;
  }
  deps.progress?.update(total, total, 'done');
  return { backends: backendReport, cells };
}

/** The inputs' identity: every dim the generator sees (not `causal`, which only the attention does). */
function inputKey(shape: CellShape): string {
  return `${shape.batch}/${shape.heads}/${shape.kvHeads}/${shape.seqQ}/${shape.seqKV}/${shape.headDim}`;
}

/**
 * The order cells run in: the plan's, except that the cells of one backend whose inputs are the same tensors (a
 * shape's causal and non-causal cells) run one after another, so the inputs are generated once for them. Generating
 * LLM-like inputs is the slowest part of a large sweep (B4 H32 N4K: ~20 s on a 2-core host, 4× that at N16K, six
 * normal draws per K/V element); the cells keep their plan order in the report.
 */
export function executionOrder(plan: ReadonlyArray<{ shape: CellShape; backend: BackendName }>): number[] {
  const groups = new Map<string, number[]>();
  plan.forEach(({ shape, backend }, index) => {
    const key = `${backend} ${inputKey(shape)}`;
    const group = groups.get(key);
    if (group) group.push(index);
    else groups.set(key, [index]);
  });
  return [...groups.values()].flat();
}

async function measureCell(
  cell: CellResult,
  algorithm: Algorithm,
  config: SweepConfig,
  inputs: () => Promise<InputTensors>,
  references: ReturnType<typeof createReferenceCache>,
): Promise<void> {
  const { shape, backend } = cell;
  const apiShape = { batch: shape.batch, heads: shape.heads, kvHeads: shape.kvHeads, seqQ: shape.seqQ, seqKV: shape.seqKV, headDim: shape.headDim };
  try {
    const timing = await algorithm.time({
      shape: apiShape,
      causal: shape.causal,
      backend,
      warmup: config.warmup,
      warmupMs: config.warmupMs,
      repeats: config.repeats,
      seed: config.seed,
      inputs,
    });
    cell.timing = timing;
    cell.tops = tops(cell.ops, timing.medianMs);
    if (timing.attnMs !== undefined && timing.attnMs > 0) cell.topsAttention = tops(cell.ops, timing.attnMs);
  } catch (err) {
    cell.error = toCellError(err);
    cell.status = statusOf(cell.error);
    // A backend that cannot be timed (no benchmark hook, an unsupported timer) may still compute: its accuracy is
    // worth reporting. After a genuine failure the accuracy run would only fail again.
    if (cell.error.code !== 'ERR_BENCH_NO_HOOK') return;
  }
  if (!config.accuracy) return;
  try {
    const sub = accuracySubProblem(shape, config.accuracyRows);
    const ref = references.get(sub);
    const actual = await algorithm.run(ref.inputs, ref.shape, sub.causal, backend);
    cell.accuracy = { ...references.compare(actual, ref.expected), subProblem: sub };
  } catch (err) {
    cell.accuracyError = toCellError(err);
  }
}
