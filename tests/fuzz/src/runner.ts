// Runs fuzz cases on the backends: the float64 reference and the CPU oracle once per case, then every requested
// backend of each algorithm, each answer judged by check.ts against the bars of bars.ts.
import { attentionCapabilities } from '@qattn/cuda-runtime';
import { flashInt8Attention, flashInt8Backends } from '@qattn/flash-int8';
import { isQattnError } from '@qattn/quant-core';
import { attention, compare } from '@qattn/reference';
import { createCudaBackend as createTurboCudaBackend, turboAttention, turboBackends } from '@qattn/turbo-attn';
import { acquireGpu, chooseSasPrecision, isSupportedHeadDim } from '@qattn/webgpu-runtime';
import { ALGORITHMS, type Algorithm, type Backend, type DeviceFacts, float64Bar, oracleBound, visibleRows } from './bars.js';
import { type FuzzCase, type FuzzProfile, fuzzCase } from './cases.js';
import { comparesWithOracle, EQUIVALENCE_EDGES, firstDifference, firstNonFinite, judgeAgainstFloat64, modifiedInput } from './check.js';
import { caseInputs, cleanedInputs } from './inputs.js';

/**
 * How one backend answered one case:
 * - `pass`: a finite output within the bars;
 * - `rejected`: an edge case refused with `ERR_QATTN_UNSUPPORTED` (a value range the backend documents it cannot take);
 * - `unsupported`: a head dim without a kernel there, refused with `ERR_QATTN_UNSUPPORTED` as required;
 * - `fail`: anything else (non-finite output, a bar missed, a modified input, a wrong or missing error).
 */
export type CheckStatus = 'pass' | 'rejected' | 'unsupported' | 'fail';

/** The verdict on one (case, algorithm, backend). */
export interface CheckResult {
  fuzzCase: FuzzCase;
  algorithm: Algorithm;
  backend: Backend;
  status: CheckStatus;
  /** Wall time of the call. */
  ms: number;
  /** Relative L2 against float64, and the bar it was held to (no bar for hard-argmax edges and subnormal outputs). */
  relL2?: number;
  bar?: number;
  /** Relative L2 against the CPU oracle and its bound (GPU backends). */
  oracleRelL2?: number;
  oracleBound?: number;
  /** The QattnError code of a rejection. */
  code?: string;
  /** Why it failed, or what the rejection said. */
  message?: string;
}

/** Whether `backend` has a kernel for `headDim` (else the call must be refused with ERR_QATTN_UNSUPPORTED). */
export function supportsHeadDim(algorithm: Algorithm, backend: Backend, headDim: number): boolean {
  if (backend === 'cpu') return true;
  if (backend === 'webgpu') return isSupportedHeadDim(headDim);
  return attentionCapabilities(algorithm).headDims.includes(headDim);
}

/** Runs one algorithm on one backend with the package's default options. */
export function runAttention(algorithm: Algorithm, backend: Backend, inputs: { q: Float32Array; k: Float32Array; v: Float32Array }, c: FuzzCase): Promise<Float32Array> {
  const { q, k, v } = inputs;
  const options = { backend, causal: c.causal };
  return algorithm === 'flash-int8' ? flashInt8Attention(q, k, v, c.shape, options) : turboAttention(q, k, v, c.shape, options);
}

/** The backends that load here, why the others do not, and what the GPU bounds depend on. */
export interface BackendProbe {
  available: Backend[];
  missing: Array<{ backend: Backend; reason: string }>;
  facts: DeviceFacts;
}

/** Probes the requested backends through both packages' registries (cpu always loads). */
export async function probeBackends(requested: readonly Backend[]): Promise<BackendProbe> {
  const probe: BackendProbe = { available: [], missing: [], facts: {} };
  // The registries probe every backend (acquiring the GPU): only when a GPU backend is asked for.
  const statuses = requested.some((backend) => backend !== 'cpu') ? [...(await flashInt8Backends()), ...(await turboBackends())] : [];
  for (const backend of requested) {
    const down = statuses.find((status) => status.name === backend && !status.available);
    if (down) {
      probe.missing.push({ backend, reason: down.reason ?? 'unavailable' });
      continue;
    }
    probe.available.push(backend);
    if (backend === 'webgpu') {
      probe.facts.webgpu = await acquireGpu();
      probe.facts.webgpuSasPrecision = chooseSasPrecision(probe.facts.webgpu.capabilities);
    }
    if (backend === 'cuda') probe.facts.cudaSasEvaluation = (await createTurboCudaBackend()).sasEvaluation;
  }
  return probe;
}

/** A call's outcome: its output or the error it threw, and which input it modified, if any. */
type Outcome = ({ out: Float32Array } | { error: unknown }) & { ms: number; modified?: string };

async function attempt(run: () => Promise<Float32Array>): Promise<Outcome> {
  const start = performance.now();
  try {
    const out = await run();
    return { out, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}

/**
 * Runs one call on the case's input arrays, then compares them with the snapshots; a modified input is recorded on
 * the outcome and restored, so that the next backend gets the case's inputs and the blame stays with this one.
 */
async function callOnInputs(context: CaseContext, run: () => Promise<Float32Array>): Promise<Outcome> {
  const outcome = await attempt(run);
  const { inputs, snapshots } = context;
  const arrays = [inputs.q, inputs.k, inputs.v];
  outcome.modified = modifiedInput(arrays, snapshots);
  if (outcome.modified) arrays.forEach((array, t) => array.set(snapshots[t]));
  return outcome;
}

function describeError(error: unknown): string {
  return isQattnError(error) ? `${error.code}: ${error.message}` : `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`;
}

interface CaseContext {
  c: FuzzCase;
  inputs: { q: Float32Array; k: Float32Array; v: Float32Array };
  snapshots: Float32Array[];
  expected: Float64Array;
  facts: DeviceFacts;
}

/**
 * Judges one outcome (see {@link CheckStatus}); `oracle` is the CPU backend's output when it produced one, `cleaned`
 * the same backend's outcome on the cleaned inputs of an {@link EQUIVALENCE_EDGES} case.
 */
function judge(context: CaseContext, algorithm: Algorithm, backend: Backend, outcome: Outcome, oracle: Float32Array | undefined, cleaned?: Outcome): CheckResult {
  const { c, inputs, expected, facts } = context;
  const result: CheckResult = { fuzzCase: c, algorithm, backend, status: 'fail', ms: outcome.ms };
  const { modified } = outcome;
  const expectUnsupported = !supportsHeadDim(algorithm, backend, c.shape.headDim);
  if ('error' in outcome) {
    const { error } = outcome;
    result.code = isQattnError(error) ? error.code : undefined;
    result.message = describeError(error);
    if (modified) result.message = `${modified}; and it threw ${result.message}`;
    else if (result.code === 'ERR_QATTN_UNSUPPORTED' && expectUnsupported) result.status = 'unsupported';
    else if (result.code === 'ERR_QATTN_UNSUPPORTED' && c.edge) result.status = 'rejected';
    return result;
  }
  if (expectUnsupported) {
    result.message = `expected ERR_QATTN_UNSUPPORTED for headDim ${c.shape.headDim}, but the call returned an output`;
    return result;
  }
  const { out } = outcome;
  if (!(out instanceof Float32Array) || out.length !== expected.length) {
    result.message = `output must be a Float32Array of ${expected.length} elements, got ${out?.constructor?.name} of ${out?.length}`;
    return result;
  }
  const nonFinite = firstNonFinite(out);
  if (nonFinite >= 0) {
    result.message = `out[${nonFinite}] = ${out[nonFinite]} from finite inputs`;
    return result;
  }
  if (modified) {
    result.message = modified;
    return result;
  }
  const float64 = judgeAgainstFloat64(out, expected, inputs.v, c, float64Bar(algorithm, backend, c.data, visibleRows(c.shape, c.causal)));
  result.relL2 = float64.relL2;
  result.bar = float64.bar;
  const failures = float64.failure ? [float64.failure] : [];
  if (cleaned) {
    const difference = 'out' in cleaned ? firstDifference(out, cleaned.out) : `the cleaned inputs threw ${describeError(cleaned.error)}`;
    if (difference) failures.push(difference);
  }
  if (backend !== 'cpu' && oracle && comparesWithOracle(c, expected)) {
    const bound = oracleBound(algorithm, backend, c.shape, c.causal, facts);
    result.oracleRelL2 = compare(out, oracle).relL2;
    result.oracleBound = bound.agreement;
    const oracleError = compare(oracle, expected).relL2;
    if (!(result.oracleRelL2 <= bound.agreement)) {
      failures.push(
        `relative L2 vs the CPU oracle ${result.oracleRelL2.toExponential(3)} > ${bound.agreement} ` +
          `(vs float64: ${float64.relL2.toExponential(3)}, the oracle ${oracleError.toExponential(3)})`,
      );
    }
    if (bound.float64Slack !== undefined) {
      if (!(float64.relL2 <= oracleError + bound.float64Slack)) {
        failures.push(`farther from float64 than the oracle: ${float64.relL2.toExponential(3)} vs ${oracleError.toExponential(3)} + ${bound.float64Slack.toExponential(2)}`);
      }
    }
  }
  result.status = failures.length === 0 ? 'pass' : 'fail';
  if (failures.length > 0) result.message = failures.join('; ');
  return result;
}

/**
 * Runs one case: the float64 reference, each algorithm's CPU oracle (always, since the GPU backends are held to it),
 * then each requested backend. Every call gets the same input arrays, checked afterwards against private snapshots.
 */
export async function runFuzzCase(c: FuzzCase, backends: readonly Backend[], facts: DeviceFacts, algorithms: readonly Algorithm[] = ALGORITHMS): Promise<CheckResult[]> {
  const inputs = caseInputs(c);
  const snapshots = [inputs.q.slice(), inputs.k.slice(), inputs.v.slice()];
  const expected = attention(snapshots[0], snapshots[1], snapshots[2], c.shape, { causal: c.causal });
  const context: CaseContext = { c, inputs, snapshots, expected, facts };
  const results: CheckResult[] = [];
  const cleaned = c.edge && EQUIVALENCE_EDGES.has(c.edge) ? cleanedInputs(snapshots[0], snapshots[1], snapshots[2]) : undefined;
  for (const algorithm of algorithms) {
    const cpu = await callOnInputs(context, () => runAttention(algorithm, 'cpu', inputs, c));
    const oracle = 'out' in cpu && cpu.out instanceof Float32Array && firstNonFinite(cpu.out) < 0 ? cpu.out : undefined;
    for (const backend of backends) {
      const outcome = backend === 'cpu' ? cpu : await callOnInputs(context, () => runAttention(algorithm, backend, inputs, c));
      const cleanedOutcome = cleaned && 'out' in outcome ? await attempt(() => runAttention(algorithm, backend, cleaned, c)) : undefined;
      results.push(judge(context, algorithm, backend, outcome, oracle, cleanedOutcome));
    }
  }
  return results;
}

/** Options of {@link runFuzz}. */
export interface FuzzRunOptions {
  seed: number;
  profile: FuzzProfile;
  /** Case indices to run (e.g. 0 … shapes − 1, or one index to replay). */
  indices: Iterable<number>;
  backends: readonly Backend[];
  algorithms?: readonly Algorithm[];
  facts: DeviceFacts;
  /** Called after each case (progress, streaming failures). */
  onCase?: (c: FuzzCase, results: CheckResult[]) => void;
}

/** Runs the cases in order and returns every verdict. */
export async function runFuzz(options: FuzzRunOptions): Promise<CheckResult[]> {
  const all: CheckResult[] = [];
  for (const index of options.indices) {
    const c = fuzzCase(options.seed, index, options.profile);
    const results = await runFuzzCase(c, options.backends, options.facts, options.algorithms);
    all.push(...results);
    options.onCase?.(c, results);
  }
  return all;
}

/**
 * The command that replays one verdict: the CLI on the case's seed and index (QATTN_FUZZ_SEED, QATTN_FUZZ_CASE),
 * profile, backend and algorithm.
 */
export function replayCommand(result: Pick<CheckResult, 'fuzzCase' | 'algorithm' | 'backend'>): string {
  const { seed, index, profile } = result.fuzzCase;
  return `QATTN_FUZZ_SEED=${seed} QATTN_FUZZ_CASE=${index} pnpm --filter @qattn/fuzz fuzz --profile ${profile} --backends ${result.backend} --algorithms ${result.algorithm}`;
}
