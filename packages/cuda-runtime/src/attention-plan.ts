// The plan of one attention call for any kernel addon that follows the shared argument block
// (native/include/qattn/attention_args.h, attention_addon.h): layout, workspace owned by a cached plan, typed-array
// run (one queue job), device-resident run, and the CUDA-events benchmark. A kernel package's CUDA backend maps its
// options to {@link AttentionKernelFlags} and hands them, with its addon, to an {@link AttentionRunner}.
import {
  type AttentionVariant,
  type BenchmarkResult,
  QattnError,
  type ResolvedShape,
  benchmarkData,
  LOG2E,
  median,
} from '@qattn/quant-core';
import { type AttentionKernelCapabilities, attentionCapabilities } from './capabilities.js';
import { PlanCache, type PlanResource } from './plan-cache.js';
import type { CudaRuntime } from './runtime.js';
import type { DeviceTensor } from './tensor.js';

/** The shape fields an addon's `layout()` reads. */
export interface AttentionLayoutShape {
  batch: number;
  heads: number;
  kvHeads: number;
  seqQ: number;
  seqKV: number;
  headDim: number;
}

/** Padded lengths and workspace byte sizes of one shape, as the kernels expect them (attention_args.h). */
export interface AttentionLayout {
  seqQPad: number;
  seqKVPad: number;
  statSplits: number;
  qInt8Bytes: number;
  qScaleBytes: number;
  kInt8Bytes: number;
  kScaleBytes: number;
  vInt8Bytes: number;
  vFp16Bytes: number;
  vScaleBytes: number;
  meanBytes: number;
  statBytes: number;
}

/** The fields of `AttentionArgs` (attention_args.h): device pointers as bigint, the rest as numbers. */
export interface AttentionArgFields {
  q: bigint;
  k: bigint;
  v: bigint;
  out: bigint;
  qInt8: bigint;
  qScale: bigint;
  kInt8: bigint;
  kScale: bigint;
  vT: bigint;
  vScale: bigint;
  kMean: bigint;
  vMean: bigint;
  statPartial: bigint;
  batch: number;
  heads: number;
  kvHeads: number;
  seqQ: number;
  seqKV: number;
  headDim: number;
  seqQPad: number;
  seqKVPad: number;
  statSplits: number;
  smScaleLog2: number;
  causal: number;
  pvFp16: number;
  pRowmax: number;
  smoothK: number;
  smoothV: number;
  /** Largest P code, 127 or 255. */
  pCodeMax: number;
  keyBlock: number;
  qRowsPerScale: number;
  kRowsPerScale: number;
  vScalePerBlock: number;
  /** `exponentExp2` or `exponentSas` of the binding. */
  exponent: number;
  sasThreshold: number;
  skipSparseTiles: number;
  /** Bits of `stageQuantize` / `stageAttention`. */
  stages: number;
}

/**
 * The Node-API surface of every attention kernel addon (native/include/qattn/attention_addon.h). It makes no CUDA
 * call: device work goes through the runtime.
 */
export interface AttentionKernelBinding {
  /** Launch ABI version (launch_abi.h); must equal the runtime's. */
  readonly abiVersion: number;
  /** sizeof(AttentionArgs) the addon was compiled with. */
  readonly argsBytes: number;
  /** Address of the package's `qattn_launch_fn`. */
  readonly launcher: bigint;
  /** The capabilities.json entry the addon was configured with. */
  readonly capabilitiesEntry: string;
  /** Head dims and key blocks compiled into this addon (from capabilities.json at configure time). */
  readonly headDims: readonly number[];
  readonly keyBlocks: readonly number[];
  readonly stageQuantize: number;
  readonly stageAttention: number;
  readonly exponentExp2: number;
  readonly exponentSas: number;
  /** SAS's sparsity with the exponent unit's 2^x (kExponentSasUnit); absent in addons built before it existed. */
  readonly exponentSasUnit?: number;
  layout(shape: AttentionLayoutShape): AttentionLayout;
  packArgs(fields: AttentionArgFields): Uint8Array;
  /** The kernel path arch dispatch picks for a compute capability (and QATTN_CUDA_ARCH_PATH); `error` when none. */
  archPath(major: number, minor: number): { path: 'sm80' | 'sm90'; error?: string };
  /**
   * The attention kernel a call of `headDim` with INT8 (or fp16) P·V runs on a device of compute capability
   * major.minor under QATTN_CUDA_ARCH_PATH; absent in addons built before it existed.
   */
  attentionKernel?(major: number, minor: number, headDim: number, pvInt8: boolean): { kernel: 'sm90a' | 'sm80'; error?: string };
  /** The sm90a kernel's consumer schedule under QATTN_SM90_SCHEDULE; absent in addons built before it existed. */
  sm90Schedule?(): { schedule: 'serial' | 'overlap' | 'pingpong'; error?: string };
}

/**
 * What a kernel package sets in the argument block beyond the shape: the algorithm variant (quant-core's record,
 * which picks the compiled exponent and tile skip) and the quantization granularities the quantization kernels
 * write.
 */
export interface AttentionKernelFlags {
  readonly variant: AttentionVariant;
  /** Keys per P-rowmax block and V scale block; one of the binding's `keyBlocks` for INT8 P·V. */
  readonly keyBlock: number;
  /** Queries per Q scale: 1 = per token, else per block of that many queries. */
  readonly qRowsPerScale: number;
  /** Keys per K scale: 1 = per token, else per block of that many keys. */
  readonly kRowsPerScale: number;
  /** One V scale per key block over all channels (FlashQ's `'block'`) instead of per (key block, channel). */
  readonly vScalePerBlock: boolean;
  readonly smoothK: boolean;
  readonly smoothV: boolean;
  /**
   * How a `'sas'` variant computes 2^x above its threshold: `'polynomial'`, the fp16 cubic (the CPU oracle's
   * `sasExp2`, bit for bit); `'unit'`, the exponent unit (ex2.approx), with the same threshold, exact zeros and tile
   * skip. A device choice ({@link chooseSasEvaluation}), not an algorithm option. Default `'polynomial'`.
   */
  readonly sasEvaluation?: SasEvaluation;
}

/** How a SAS kernel computes 2^x above the threshold (see {@link AttentionKernelFlags.sasEvaluation}). */
export type SasEvaluation = 'polynomial' | 'unit';

/**
 * The SAS evaluation an arch path runs by default. The polynomial moves the exponent off the exponent unit (MUFU) onto
 * the FMA pipes at ≈ 10.5 issue slots per score; that pays only where MUFU is the limit (a wgmma kernel above
 * ~800 TOPS). Neither kernel is there: the sm80 mma.sync kernel is issue-bound (H200, B4 H32 hd128, kernel only: SAS
 * with the polynomial at 0.76–0.81× of the same kernel with exact exp2), and the first sm90a kernel runs at the sm80
 * kernel's rate (N16K: flash-int8 381 TOPS, turbo-attn with the polynomial 311 — the same 0.8×). Both take 2^x from
 * the unit until a kernel is MUFU-bound; the parameter keeps the choice per path.
 */
export function chooseSasEvaluation(_path: 'sm80' | 'sm90'): SasEvaluation {
  return 'unit';
}

/** One attention problem: shape, softmax scale, mask and flags. */
export interface AttentionProblem {
  readonly shape: ResolvedShape;
  readonly scale: number;
  readonly causal: boolean;
  readonly flags: AttentionKernelFlags;
}

/** The benchmark contract (quant-core `BenchmarkResult`), with every optional field filled: CUDA events, medians. */
export interface CudaBenchmarkResult extends BenchmarkResult {
  backend: 'cuda';
  quantMs: number;
  attnMs: number;
  peakDeviceBytes: number;
  timer: 'events';
}

type WorkspaceName = 'qInt8' | 'qScale' | 'kInt8' | 'kScale' | 'vT' | 'vScale' | 'kMean' | 'vMean' | 'statPartial';

/**
 * Byte offsets of the caller's tensors in the packed `AttentionArgs` block (static_assert in attention_args.h): a
 * device-resident call patches these in the plan's packed block instead of packing every field again.
 */
export const ATTENTION_ARGS_IO_OFFSETS = { q: 0, k: 8, v: 16, out: 24 } as const;

/** The plan-cache key of a problem: everything the packed argument block depends on besides tensor addresses. */
export function attentionPlanKey(problem: AttentionProblem): string {
  const { shape, scale, causal, flags } = problem;
  const v = flags.variant;
  return [
    `${shape.batch}x${shape.heads}x${shape.kvHeads}x${shape.seqQ}x${shape.seqKV}x${shape.headDim}`,
    `c${causal ? 1 : 0}`,
    `s${scale}`,
    `${v.exponent}${v.exponent === 'sas' ? `${v.sasThreshold}${flags.sasEvaluation ?? 'polynomial'}` : ''}${v.skipSparseTiles ? 'k' : ''}`,
    `p${v.pv}${v.pScale}${v.pCodeMax}`,
    `b${flags.keyBlock}q${flags.qRowsPerScale}k${flags.kRowsPerScale}v${flags.vScalePerBlock ? 'b' : 'c'}`,
    `m${flags.smoothK ? 1 : 0}${flags.smoothV ? 1 : 0}`,
  ].join('|');
}

function dims(shape: ResolvedShape): { q: number[]; kv: number[] } {
  return {
    q: [shape.batch, shape.heads, shape.seqQ, shape.headDim],
    kv: [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim],
  };
}

async function allocateAll<K extends string>(runtime: CudaRuntime, sizes: Record<K, number>): Promise<Record<K, DeviceTensor>> {
  const tensors: Partial<Record<K, DeviceTensor>> = {};
  try {
    for (const name of Object.keys(sizes) as K[]) tensors[name] = await runtime.empty('uint8', [sizes[name]]);
  } catch (err) {
    for (const tensor of Object.values<DeviceTensor | undefined>(tensors)) tensor?.dispose();
    throw err;
  }
  return tensors as Record<K, DeviceTensor>;
}

/**
 * The plan of one {@link AttentionProblem}: its layout and workspace (quantized Q/K/V, scales, smoothing statistics),
 * and, once a typed-array call needed them, input/output tensors with the argument block packed once. Owned by a
 * {@link PlanCache}; `dispose()` frees everything.
 */
export class AttentionPlan implements PlanResource {
  #io: { q: DeviceTensor; k: DeviceTensor; v: DeviceTensor; out: DeviceTensor; args: Uint8Array } | undefined;
  #deviceArgs: Uint8Array | undefined;
  #ioPending: Promise<void> | undefined;
  #disposed = false;

  private constructor(
    readonly runtime: CudaRuntime,
    readonly binding: AttentionKernelBinding,
    readonly problem: AttentionProblem,
    readonly layout: AttentionLayout,
    readonly workspace: Readonly<Record<WorkspaceName, DeviceTensor>>,
  ) {}

  /** Allocates the workspace of `problem` (device memory from the runtime's pool). */
  static async create(runtime: CudaRuntime, binding: AttentionKernelBinding, problem: AttentionProblem): Promise<AttentionPlan> {
    const layout = binding.layout(problem.shape);
    const workspace = await allocateAll<WorkspaceName>(runtime, {
      qInt8: layout.qInt8Bytes,
      qScale: layout.qScaleBytes,
      kInt8: layout.kInt8Bytes,
      kScale: layout.kScaleBytes,
      vT: problem.flags.variant.pv === 'fp16' ? layout.vFp16Bytes : layout.vInt8Bytes,
      vScale: layout.vScaleBytes,
      kMean: layout.meanBytes,
      vMean: layout.meanBytes,
      statPartial: layout.statBytes,
    });
    return new AttentionPlan(runtime, binding, problem, layout, workspace);
  }

  /** Device bytes the plan holds (workspace, and the typed-array call's inputs/output once allocated). */
  get bytes(): number {
    let total = 0;
    for (const tensor of Object.values(this.workspace)) total += tensor.byteLength;
    if (this.#io) total += this.#io.q.byteLength + this.#io.k.byteLength + this.#io.v.byteLength + this.#io.out.byteLength;
    return total;
  }

  /** The packed argument block for these q/k/v/out tensors and `stages` (bits of the binding's stage constants). */
  pack(tensors: { q: DeviceTensor; k: DeviceTensor; v: DeviceTensor; out: DeviceTensor }, stages: number): Uint8Array {
    const { shape, scale, causal, flags } = this.problem;
    const { variant } = flags;
    const w = this.workspace;
    return this.binding.packArgs({
      q: tensors.q.pointer,
      k: tensors.k.pointer,
      v: tensors.v.pointer,
      out: tensors.out.pointer,
      qInt8: w.qInt8.pointer,
      qScale: w.qScale.pointer,
      kInt8: w.kInt8.pointer,
      kScale: w.kScale.pointer,
      vT: w.vT.pointer,
      vScale: w.vScale.pointer,
      kMean: w.kMean.pointer,
      vMean: w.vMean.pointer,
      statPartial: w.statPartial.pointer,
      batch: shape.batch,
      heads: shape.heads,
      kvHeads: shape.kvHeads,
      seqQ: shape.seqQ,
      seqKV: shape.seqKV,
      headDim: shape.headDim,
      seqQPad: this.layout.seqQPad,
      seqKVPad: this.layout.seqKVPad,
      statSplits: this.layout.statSplits,
      smScaleLog2: scale * LOG2E,
      causal: causal ? 1 : 0,
      pvFp16: variant.pv === 'fp16' ? 1 : 0,
      pRowmax: variant.pScale === 'rowmax' ? 1 : 0,
      smoothK: flags.smoothK ? 1 : 0,
      smoothV: flags.smoothV ? 1 : 0,
      pCodeMax: variant.pCodeMax,
      keyBlock: flags.keyBlock,
      qRowsPerScale: flags.qRowsPerScale,
      kRowsPerScale: flags.kRowsPerScale,
      vScalePerBlock: flags.vScalePerBlock ? 1 : 0,
      exponent: variant.exponent === 'sas' ? this.#sasExponent() : this.binding.exponentExp2,
      sasThreshold: variant.exponent === 'sas' ? variant.sasThreshold : 0,
      skipSparseTiles: variant.exponent === 'sas' && variant.skipSparseTiles ? 1 : 0,
      stages,
    });
  }

  /**
   * The argument block of a device-resident call (quantize + attention) on these tensors: the plan's block, packed on
   * its first call through the binding, with the caller's four pointers patched in ({@link ATTENTION_ARGS_IO_OFFSETS}).
   * A fresh array per call, so a launch in flight never sees the next call's pointers.
   */
  deviceArgs(tensors: { q: DeviceTensor; k: DeviceTensor; v: DeviceTensor; out: DeviceTensor }): Uint8Array {
    this.#deviceArgs ??= this.pack(tensors, this.binding.stageQuantize | this.binding.stageAttention);
    const args = this.#deviceArgs.slice();
    const view = new DataView(args.buffer);
    for (const name of ['q', 'k', 'v', 'out'] as const) view.setBigUint64(ATTENTION_ARGS_IO_OFFSETS[name], tensors[name].pointer, true);
    return args;
  }

  #sasExponent(): number {
    if (this.problem.flags.sasEvaluation !== 'unit') return this.binding.exponentSas;
    if (this.binding.exponentSasUnit === undefined) {
      throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', 'the kernel addon predates SAS on the exponent unit: rebuild it', { backend: 'cuda' });
    }
    return this.binding.exponentSasUnit;
  }

  /**
   * The typed-array call's device inputs and output with their argument block (quantize + attention), allocated and
   * packed on first use. Concurrent callers share one allocation.
   */
  async io(): Promise<{ q: DeviceTensor; k: DeviceTensor; v: DeviceTensor; out: DeviceTensor; args: Uint8Array }> {
    if (this.#io) return this.#io;
    this.#ioPending ??= (async () => {
      const { q: qDims, kv: kvDims } = dims(this.problem.shape);
      const tensors: DeviceTensor[] = [];
      try {
        tensors.push(await this.runtime.empty('float32', qDims));
        tensors.push(await this.runtime.empty('float32', kvDims));
        tensors.push(await this.runtime.empty('float32', kvDims));
        tensors.push(await this.runtime.empty('float32', qDims));
      } catch (err) {
        for (const tensor of tensors) tensor.dispose();
        this.#ioPending = undefined;
        throw err;
      }
      const [q, k, v, out] = tensors;
      if (this.#disposed) {
        for (const tensor of tensors) tensor.dispose();
        throw new QattnError('ERR_QATTN_DISPOSED', 'attention plan was disposed while its inputs were being allocated');
      }
      const stages = this.binding.stageQuantize | this.binding.stageAttention;
      this.#io = { q, k, v, out, args: this.pack({ q, k, v, out }, stages) };
    })();
    await this.#ioPending;
    return this.#io!;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const tensor of Object.values(this.workspace)) tensor.dispose();
    if (this.#io) for (const tensor of [this.#io.q, this.#io.k, this.#io.v, this.#io.out]) tensor.dispose();
    this.#io = undefined;
  }
}

function checkDeviceInput(name: string, tensor: DeviceTensor, expected: number[]): void {
  if (tensor.dtype !== 'float32') {
    throw new QattnError('ERR_QATTN_DTYPE', `${name} must be a float32 device tensor, got ${tensor.dtype}`, { tensor: name });
  }
  const elements = expected.reduce((a, b) => a * b, 1);
  if (tensor.elements !== elements) {
    throw new QattnError('ERR_QATTN_SHAPE', `${name} has ${tensor.elements} elements but the shape needs [${expected.join(', ')}]`, { tensor: name });
  }
}

/** Options of {@link createAttentionRunner}. */
export interface AttentionRunnerOptions {
  /** The package, for errors and the plan cache's name, e.g. `'@qattn/turbo-attn'`. */
  readonly packageName: string;
  readonly runtime: CudaRuntime;
  readonly binding: AttentionKernelBinding;
  /** Most plans kept (default 8). */
  readonly capacity?: number;
}

/**
 * Runs one package's attention kernels through cached plans: {@link AttentionRunner.run} (typed arrays, one queue
 * job per call), {@link AttentionRunner.runDevice} (device tensors in, a new device tensor out) and
 * {@link AttentionRunner.benchmark} (CUDA events). Create it with {@link createAttentionRunner}.
 */
export class AttentionRunner {
  /** Plans by {@link attentionPlanKey}; `CudaRuntime.releaseCaches()` clears them. */
  readonly plans: PlanCache<AttentionPlan>;
  readonly capabilities: AttentionKernelCapabilities;
  /** The kernel path arch dispatch runs on this device. */
  readonly archPath: 'sm80' | 'sm90';
  /** Names the calls' jobs in errors and in the runtime's trace. */
  readonly #what: string;

  /** @internal Use {@link createAttentionRunner}. */
  constructor(readonly options: AttentionRunnerOptions) {
    this.#what = `${options.packageName} attention`;
    this.plans = new PlanCache<AttentionPlan>({ name: `${options.packageName} cuda`, capacity: options.capacity ?? 8 });
    this.capabilities = attentionCapabilities(options.binding.capabilitiesEntry);
    const [major, minor] = options.runtime.device.computeCapability;
    this.archPath = options.binding.archPath(major, minor).path;
  }

  get runtime(): CudaRuntime {
    return this.options.runtime;
  }

  get binding(): AttentionKernelBinding {
    return this.options.binding;
  }

  #plan<R>(problem: AttentionProblem, fn: (plan: AttentionPlan) => Promise<R>): Promise<R> {
    checkGrid(this.options.packageName, problem.shape);
    return this.plans.use(attentionPlanKey(problem), () => AttentionPlan.create(this.runtime, this.binding, problem), fn);
  }

  /**
   * Attention on host arrays: one queue job uploads q/k/v into the plan's tensors, quantizes, runs attention and
   * downloads the output. Resolves to a new Float32Array of q's shape.
   */
  async run(q: Float32Array, k: Float32Array, v: Float32Array, problem: AttentionProblem): Promise<Float32Array> {
    return this.#plan(problem, async (plan) => {
      const io = await plan.io();
      const out = new Float32Array(problem.shape.qElements);
      await this.runtime.submit(
        {
          uploads: [
            { tensor: io.q, host: q },
            { tensor: io.k, host: k },
            { tensor: io.v, host: v },
          ],
          launches: [{ launcher: this.binding.launcher, args: io.args }],
          downloads: [{ tensor: io.out, host: out }],
        },
        this.#what,
      );
      return out;
    });
  }

  /**
   * Attention on device tensors q `[batch, heads, seqQ, headDim]`, k/v `[batch, kvHeads, seqKV, headDim]` (float32);
   * resolves to a new float32 device tensor of q's shape once the kernels have finished. The caller disposes it.
   */
  async runDevice(q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, problem: AttentionProblem): Promise<DeviceTensor<'float32'>> {
    const { q: qDims, kv: kvDims } = dims(problem.shape);
    checkDeviceInput('q', q, qDims);
    checkDeviceInput('k', k, kvDims);
    checkDeviceInput('v', v, kvDims);
    const out = await this.runtime.empty('float32', qDims);
    try {
      await this.#plan(problem, (plan) => this.runtime.launch(this.binding.launcher, plan.deviceArgs({ q, k, v, out }), this.#what));
      return out;
    } catch (err) {
      out.dispose();
      throw err;
    }
  }

  /**
   * Times the kernels on generated uniform [−1, 1) inputs of `problem.shape` with CUDA events: quantization +
   * attention (`medianMs`), and each stage alone (`quantMs`, `attnMs`). Its plan is built for the benchmark and
   * freed after it (not cached), so large shapes do not stay resident.
   */
  async benchmark(problem: AttentionProblem, settings: { warmup: number; repeats: number; seed?: number }): Promise<CudaBenchmarkResult> {
    checkGrid(this.options.packageName, problem.shape);
    const { shape } = problem;
    const { q: qDims, kv: kvDims } = dims(shape);
    const owned: Array<{ dispose(): void }> = [];
    try {
      const seed = settings.seed ?? 1;
      const q = await this.runtime.upload(benchmarkData(shape.qElements, seed), 'float32', qDims);
      owned.push(q);
      const k = await this.runtime.upload(benchmarkData(shape.kvElements, seed + 1), 'float32', kvDims);
      owned.push(k);
      const v = await this.runtime.upload(benchmarkData(shape.kvElements, seed + 2), 'float32', kvDims);
      owned.push(v);
      const out = await this.runtime.empty('float32', qDims);
      owned.push(out);
      const plan = await AttentionPlan.create(this.runtime, this.binding, problem);
      owned.push(plan);
      const { stageQuantize, stageAttention, launcher } = this.binding;
      const time = (stages: number, what: string) =>
        this.runtime.time(launcher, plan.pack({ q, k, v, out }, stages), `${this.options.packageName} ${what}`, settings.warmup, settings.repeats);
      const whole = await time(stageQuantize | stageAttention, 'quantize + attention');
      const quant = await time(stageQuantize, 'quantize');
      const attn = await time(stageAttention, 'attention');
      return {
        backend: 'cuda',
        medianMs: median(whole),
        minMs: Math.min(...whole),
        samplesMs: whole,
        quantMs: median(quant),
        attnMs: median(attn),
        peakDeviceBytes: q.byteLength + k.byteLength + v.byteLength + out.byteLength + plan.bytes,
        timer: 'events',
      };
    } finally {
      for (const resource of owned) resource.dispose();
    }
  }
}

/** The quantization grid puts batch·heads on gridDim.y (at most 65535). */
function checkGrid(packageName: string, shape: ResolvedShape): void {
  if (shape.batch * shape.heads > 65535) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${packageName} cuda: batch·heads ${shape.batch * shape.heads} exceeds the quantization grid (65535)`, {
      backend: 'cuda',
    });
  }
}

/**
 * Checks that a kernel addon fits the runtime and the device, then makes its {@link AttentionRunner}. Throws
 * `ERR_QATTN_BACKEND_UNAVAILABLE` when the addon's launch ABI differs from the runtime's, when the addon was built
 * from a different capabilities.json than the one bundled here (a stale build: rebuild it), or when arch dispatch
 * has no kernel for the device (compute capability below 8.0, or a QATTN_CUDA_ARCH_PATH it cannot honour).
 */
export function createAttentionRunner(options: AttentionRunnerOptions): AttentionRunner {
  const { runtime, binding, packageName } = options;
  const unavailable = (why: string): never => {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `${packageName} cuda: ${why}`, { backend: 'cuda' });
  };
  if (binding.abiVersion !== runtime.binding.abiVersion) {
    unavailable(`launch ABI ${binding.abiVersion} != runtime ABI ${runtime.binding.abiVersion}; rebuild both`);
  }
  const expected = attentionCapabilities(binding.capabilitiesEntry);
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(expected.headDims, binding.headDims) || !same(expected.keyBlocks, binding.keyBlocks)) {
    unavailable(
      `the addon was built for head dims [${binding.headDims.join(', ')}] and key blocks [${binding.keyBlocks.join(', ')}], ` +
        `capabilities.json says [${expected.headDims.join(', ')}] and [${expected.keyBlocks.join(', ')}]: rebuild it (\`npx qattn-build-cuda ${packageName}\`)`,
    );
  }
  const [major, minor] = runtime.device.computeCapability;
  const arch = binding.archPath(major, minor);
  if (arch.error) unavailable(`${arch.error} (device ${runtime.device.name}, compute capability ${major}.${minor})`);
  return new AttentionRunner(options);
}
