/**
 * The compute-sanitizer workload (`qattn-bench --preset sanitize`, run by gpu/run-on-gpu-host.sh under memcheck,
 * racecheck and synccheck): small calls of every kernel algorithm and variant on cuda, with lengths that are not
 * multiples of any tile (tails and padding), GQA, seqQ ≠ seqKV, a decode row, and both the typed-array and the
 * device-resident entry — the latter twice on one shape and then on another, so cached plans are reused and
 * replaced. Each output must be finite; its distance to the CPU oracle is printed for information.
 */
import { type InputTensors, KERNEL_ALGORITHMS } from './algorithms.js';
import { type CellShape, shapeLabel } from './metrics.js';
import type { AlgorithmId } from './presets.js';
import type { CellError } from './sweep.js';

/** A kernel algorithm of the bench (the float baseline has no GPU path). */
export type KernelAlgorithmId = Exclude<AlgorithmId, 'float32'>;

/** One call of the workload. */
export interface SanitizeCase {
  algorithm: KernelAlgorithmId;
  label: string;
  shape: CellShape;
  /** Options on top of the algorithm's own (KERNEL_ALGORITHMS). */
  options: Record<string, unknown>;
  entry: 'typed' | 'device';
}

const shape = (heads: number, kvHeads: number, seqQ: number, seqKV: number, headDim: number, causal: boolean): CellShape => ({
  batch: 1,
  heads,
  kvHeads,
  seqQ,
  seqKV,
  headDim,
  causal,
});

type CaseSpec = [label: string, shape: CellShape, options: Record<string, unknown>];

const FLASH_INT8_CASES: CaseSpec[] = [
  ['defaults, causal GQA', shape(2, 1, 77, 150, 128, true), {}],
  ['smoothV, global P, Sq>Skv', shape(2, 2, 130, 65, 64, false), { smoothV: true, pScale: 'global' }],
  ['hd256', shape(1, 1, 33, 70, 256, false), {}],
  ['blockN 32, causal', shape(2, 2, 90, 161, 128, true), { blockN: 32 }],
  ['pCodeMax 127, causal GQA', shape(2, 1, 66, 97, 64, true), { pCodeMax: 127 }],
  ['qkGranularity block', shape(2, 1, 70, 131, 128, true), { qkGranularity: 'block' }],
  ['decode row', shape(4, 1, 1, 200, 128, true), {}],
];

const FLASH_INT8_FP16_CASES: CaseSpec[] = [
  ['defaults, causal GQA', shape(2, 1, 100, 100, 128, true), {}],
  ['Sq<Skv', shape(2, 2, 45, 130, 64, false), {}],
  // 192 padded keys: a 128-key tile of the sm90a fp16 kernel's block_n-128 variant reaches past them (K scales cut).
  ['padded keys not a multiple of 128', shape(2, 1, 70, 150, 128, false), {}],
];

const TURBO_CASES: CaseSpec[] = [
  ['defaults, causal GQA', shape(2, 1, 77, 150, 128, true), {}],
  ['defaults, Sq>Skv', shape(2, 2, 130, 65, 64, false), {}],
  ['sas off (exact exp2)', shape(2, 2, 90, 161, 64, true), { sas: false }],
  ['sasThreshold 4: sparse tiles skipped', shape(2, 1, 96, 257, 128, true), { sasThreshold: 4 }],
  ["vGranularity 'block', blockN 32", shape(2, 2, 66, 97, 128, false), { vGranularity: 'block', blockN: 32 }],
  ['decode row', shape(4, 1, 1, 200, 128, true), {}],
];

const DEVICE_SHAPES: CellShape[] = [shape(2, 1, 77, 150, 128, true), shape(2, 1, 77, 150, 128, true), shape(2, 2, 65, 64, 64, false)];

/** The workload of one algorithm: its typed-array cases, then three device-resident calls (two on one shape). */
function casesOf(algorithm: KernelAlgorithmId, specs: CaseSpec[]): SanitizeCase[] {
  const typed = specs.map(([label, s, options]): SanitizeCase => ({ algorithm, label, shape: s, options, entry: 'typed' }));
  const device = DEVICE_SHAPES.map((s, i): SanitizeCase => ({ algorithm, label: `device entry, call ${i + 1}`, shape: s, options: {}, entry: 'device' }));
  return [...typed, ...device];
}

/** Every call of the workload, by algorithm. */
export const SANITIZE_CASES: readonly SanitizeCase[] = [
  ...casesOf('flash-int8-pv-int8', FLASH_INT8_CASES),
  ...casesOf('flash-int8-pv-fp16', FLASH_INT8_FP16_CASES),
  ...casesOf('turbo-attn', TURBO_CASES),
  ...casesOf('turbo-attn-exp2', [['causal GQA', shape(2, 1, 77, 150, 128, true), {}]]),
];

/** What happened to one case. `unsupported`: the backend rejects this variant with ERR_QATTN_UNSUPPORTED (not a failure). */
export interface SanitizeResult {
  algorithm: KernelAlgorithmId;
  label: string;
  entry: 'typed' | 'device';
  shape: CellShape;
  options: Record<string, unknown>;
  status: 'ok' | 'failed' | 'unsupported';
  error?: CellError;
  /** Relative L2 against the CPU oracle of the same algorithm (information only). */
  vsOracle?: number;
}

/** How the workload reaches the packages; src/cli.ts wires the real ones, tests pass fakes. */
export interface SanitizeDependencies {
  inputs(shape: CellShape): InputTensors;
  /** Runs the case on cuda through the entry it names; resolves to the host copy of the output. */
  run(c: SanitizeCase, inputs: InputTensors): Promise<Float32Array>;
  /** The CPU oracle's output for the case, or undefined when it cannot be computed. */
  oracle(c: SanitizeCase, inputs: InputTensors): Promise<Float32Array | undefined>;
  relL2(actual: Float32Array, expected: Float32Array): number;
  log(line: string): void;
}

function toError(err: unknown): CellError {
  const candidate = err as { code?: unknown; message?: unknown };
  const code = typeof candidate?.code === 'string' ? candidate.code : 'ERR_BENCH_UNEXPECTED';
  const message = typeof candidate?.message === 'string' ? candidate.message : String(err);
  return { code, message: message.split('\n')[0] };
}

/** Runs `cases` one after another; never throws. */
export async function runSanitize(cases: readonly SanitizeCase[], deps: SanitizeDependencies): Promise<SanitizeResult[]> {
  const results: SanitizeResult[] = [];
  for (const c of cases) {
    const result: SanitizeResult = { algorithm: c.algorithm, label: c.label, entry: c.entry, shape: c.shape, options: c.options, status: 'ok' };
    try {
      const inputs = deps.inputs(c.shape);
      const out = await deps.run(c, inputs);
      const bad = out.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) {
        result.status = 'failed';
        result.error = { code: 'ERR_BENCH_NONFINITE', message: `output[${bad}] = ${out[bad]}` };
      } else {
        const expected = await deps.oracle(c, inputs).catch(() => undefined);
        if (expected) result.vsOracle = deps.relL2(out, expected);
      }
    } catch (err) {
      result.error = toError(err);
      result.status = result.error.code === 'ERR_QATTN_UNSUPPORTED' ? 'unsupported' : 'failed';
    }
    const options = Object.keys(c.options).length ? ` ${JSON.stringify(c.options)}` : '';
    const detail =
      result.status === 'ok'
        ? `ok${result.vsOracle !== undefined ? `, vs cpu oracle ${result.vsOracle.toExponential(2)}` : ''}`
        : `${result.status} (${result.error!.code}): ${result.error!.message}`;
    deps.log(`sanitize ${c.algorithm} ${c.entry} ${c.label} [${shapeLabel(c.shape)}]${options}: ${detail}`);
    results.push(result);
  }
  return results;
}

/** The options a case's call gets: the algorithm's own (e.g. `pv`), then the case's. */
export function caseOptions(c: SanitizeCase): Record<string, unknown> {
  return { ...KERNEL_ALGORITHMS[c.algorithm].options, ...c.options, causal: c.shape.causal };
}
