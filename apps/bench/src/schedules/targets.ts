/**
 * The real {@link ScheduleTarget}s, built on public exports only, looked up by name so that the sweep keeps working
 * (or says what is missing) while the kernel layer moves: `createWebGpuBackend({ schedule })` — the package's WebGPU
 * backend with schedule fields pinned — and `resolve…Options` from the algorithm's package (flash-int8 and turbo-attn
 * both have them); `chooseAttentionSchedule` from the package or from `@qattn/webgpu-runtime`;
 * `flashAttentionFloatBenchmark` (flash-int8) or `floatAttentionBenchmark` (webgpu-runtime) for the f32 baseline.
 */
import { resolveCommonOptions, resolveShape, type ResolvedShape } from '@qattn/quant-core';
import { BenchError, KERNEL_ALGORITHMS, type Timing, timingOf } from '../algorithms.js';
import type { CellShape } from '../metrics.js';
import type { ApiGpuContext, KernelPackage, ReferencePackage, RuntimePackages } from '../packages.js';
import type { AlgorithmId } from '../presets.js';
import type { ScheduleCandidate } from './candidates.js';
import { type BaselineTarget, type ScheduleTarget, SPLIT_P_BLOCK_BOUND } from './sweep.js';

type Options = Record<string, unknown>;
type Resolve = (options: Options, headDim?: number) => Options;
interface PinnedBackend {
  benchmark(shape: ResolvedShape, scale: number, causal: boolean, options: Options, settings: { warmup: number; repeats: number; seed: number }): Promise<Timing>;
  run(call: { q: Float32Array; k: Float32Array; v: Float32Array; shape: ResolvedShape; scale: number; causal: boolean; options: Options }): Promise<Float32Array>;
}
type CreateBackend = (run: { schedule?: ScheduleCandidate['overrides'] }) => Promise<PinnedBackend>;
type ChooseSchedule = (
  arithmetic: string,
  headDim: number,
  limits: Record<string, unknown>,
  preferredBlockN: number | undefined,
  overrides: ScheduleCandidate['overrides'] | undefined,
  problem: { seqQ: number; causal: boolean },
) => { key: string; blockN: number };

/** The first of `modules` that exports `name` as a function. */
function findFunction<T>(name: string, ...modules: Array<Record<string, unknown> | undefined>): T | undefined {
  for (const m of modules) if (typeof m?.[name] === 'function') return m[name] as T;
  return undefined;
}

const apiShape = (s: CellShape) => ({ batch: s.batch, heads: s.heads, kvHeads: s.kvHeads, seqQ: s.seqQ, seqKV: s.seqKV, headDim: s.headDim });

/** Everything the real targets share: the packages, the reference, the device and the `--options` of the run. */
export interface TargetContext {
  packages: { flashInt8: KernelPackage; turbo: KernelPackage };
  runtimes: RuntimePackages;
  reference: ReferencePackage;
  gpu: ApiGpuContext;
  extraOptions: Options;
}

/**
 * The sweep target of one kernel algorithm, or a reason it has none (the package exports no pinnable WebGPU backend).
 */
export function createScheduleTarget(algorithm: Exclude<AlgorithmId, 'float32'>, ctx: TargetContext): ScheduleTarget | { unsupported: string } {
  const source = KERNEL_ALGORITHMS[algorithm];
  const pkg = ctx.packages[source.pkg];
  if (pkg.loadError) return { unsupported: pkg.loadError };
  const exports = pkg.exports;
  const createBackend = findFunction<CreateBackend>('createWebGpuBackend', exports);
  const resolveOptions = findFunction<Resolve>(source.pkg === 'flashInt8' ? 'resolveFlashInt8Options' : 'resolveTurboOptions', exports);
  if (!createBackend || !resolveOptions) {
    return { unsupported: `${pkg.name} exports no ${createBackend ? 'options resolver' : 'createWebGpuBackend'}: its WebGPU schedule cannot be pinned` };
  }
  // The schedule function both packages plan with (@qattn/webgpu-runtime's, re-exported by flash-int8); without it
  // candidates cannot be folded by the schedule they resolve to, and every one is timed.
  const choose = findFunction<ChooseSchedule>('chooseAttentionSchedule', exports, ctx.runtimes.webgpu?.exports);
  const attention = pkg.attention;
  const optionsFor = (shape: CellShape) => resolveOptions({ ...source.options, ...ctx.extraOptions, causal: shape.causal, backend: 'webgpu' }, shape.headDim);
  const backends = new Map<string, Promise<PinnedBackend>>();
  const backendFor = (candidate: ScheduleCandidate) => {
    let backend = backends.get(candidate.label);
    if (!backend) backends.set(candidate.label, (backend = createBackend(candidate.overrides ? { schedule: candidate.overrides } : {})));
    return backend;
  };
  const limits = { ...(ctx.gpu.limits ?? {}), software: ctx.gpu.software ?? false };
  const scheduleOf = choose
    ? (candidate: ScheduleCandidate, shape: CellShape) => {
        const options = optionsFor(shape);
        const arithmetic = options.pv === 'fp16' ? 'int8-pv-fp16' : 'int8';
        return choose(arithmetic, shape.headDim, limits, options.blockN as number | undefined, candidate.overrides, { seqQ: shape.seqQ, causal: shape.causal });
      }
    : undefined;
  return {
    algorithm,
    ...(scheduleOf ? { scheduleKey: (candidate: ScheduleCandidate, shape: CellShape) => scheduleOf(candidate, shape).key } : {}),
    async benchmark(candidate, shape, warmup, repeats) {
      const resolved = resolveShape(apiShape(shape));
      const options = optionsFor(shape);
      const { scale } = resolveCommonOptions({ causal: shape.causal, scale: options.scale as number | undefined }, resolved.headDim);
      return timingOf(await (await backendFor(candidate)).benchmark(resolved, scale, shape.causal, options, { warmup, repeats, seed: 1 }), 'unreported');
    },
    async check(candidate, shape) {
      const { generateInputs, attention: reference, compare } = ctx.reference;
      if (!generateInputs || !reference || !compare || !attention) throw new BenchError('ERR_BENCH_NO_API', 'the check needs @qattn/reference and the package entry');
      const inputs = generateInputs(apiShape(shape), { kind: 'llm', seed: 7 });
      const resolved = resolveShape(apiShape(shape));
      const options = optionsFor(shape);
      const { scale } = resolveCommonOptions({ causal: shape.causal, scale: options.scale as number | undefined }, resolved.headDim);
      const gpu = await (await backendFor(candidate)).run({ ...inputs, shape: resolved, scale, causal: shape.causal, options });
      const oracle = await attention(inputs.q, inputs.k, inputs.v, apiShape(shape), { ...source.options, ...ctx.extraOptions, causal: shape.causal, backend: 'cpu' });
      const expected = reference(inputs.q, inputs.k, inputs.v, apiShape(shape), { causal: shape.causal });
      const splitPBlock = scheduleOf !== undefined && scheduleOf(candidate, shape).blockN !== options.blockN;
      return {
        vsOracle: compare(gpu, oracle).relL2,
        vsReference: compare(gpu, expected).relL2,
        oracleVsReference: compare(oracle, expected).relL2,
        ...(splitPBlock ? { bound: SPLIT_P_BLOCK_BOUND } : {}),
      };
    },
  };
}

/** The f32 WGSL FlashAttention, the baseline of flash-int8's WebGPU tables; undefined without the export. */
export function createFloatBaseline(ctx: TargetContext): BaselineTarget | undefined {
  type FloatBenchmark = (shape: ReturnType<typeof apiShape>, options: Options, settings: { warmup: number; repeats: number; seed: number }) => Promise<Timing>;
  const benchmark =
    findFunction<FloatBenchmark>('flashAttentionFloatBenchmark', ctx.packages.flashInt8.exports) ??
    findFunction<FloatBenchmark>('floatAttentionBenchmark', ctx.runtimes.webgpu?.exports);
  if (!benchmark) return undefined;
  return {
    name: 'f32 WGSL baseline',
    benchmark: async (shape, warmup, repeats) => timingOf(await benchmark(apiShape(shape), { causal: shape.causal, dtype: 'float32' }, { warmup, repeats, seed: 1 }), 'unreported'),
  };
}
