/**
 * The public API of the qattn packages as the bench sees it. The bench imports each package dynamically and checks
 * every export it uses, so a package that does not (yet) export a function is reported as such instead of breaking
 * the whole run; the types below mirror the benchmark contract of `@qattn/quant-core` (BenchmarkSettings/Result).
 */
import type { AttentionShape, BenchmarkResult, BenchmarkSettings } from '@qattn/quant-core';
import type { BackendName, DataKind } from './presets.js';

/** Shape argument of every package entry point. */
export type ApiShape = AttentionShape;

/** What a backend registry reports about one backend. */
export interface ApiBackendStatus {
  name: BackendName;
  available: boolean;
  reason?: string;
  priority?: number;
}

/** Result and settings of a package's benchmark hook (`flashInt8Benchmark`, `turboBenchmark`). */
export type ApiBenchmarkResult = BenchmarkResult;
export type ApiBenchmarkOptions = BenchmarkSettings;

type AttentionFn = (
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: ApiShape,
  options?: Record<string, unknown>,
) => Promise<Float32Array>;
type BenchmarkFn = (shape: ApiShape, options: Record<string, unknown>, bench: ApiBenchmarkOptions) => Promise<ApiBenchmarkResult>;

/** A device tensor of `@qattn/cuda-runtime` or `@qattn/webgpu-runtime`, as far as the bench touches it. */
export interface ApiDeviceTensor {
  dispose(): void;
  /** WebGPU tensors: their device, whose queue tells when submitted work has finished. */
  context?: { device?: { queue?: { onSubmittedWorkDone?: () => Promise<void> } } };
}

/** A device-resident entry (`flashInt8AttentionDevice`, `turboAttentionWebGpu`, …): device tensors in, one out. */
export type DeviceAttentionFn = (
  q: ApiDeviceTensor,
  k: ApiDeviceTensor,
  v: ApiDeviceTensor,
  shape: ApiShape,
  options?: Record<string, unknown>,
) => Promise<ApiDeviceTensor>;

/** The GPU backends that have device-resident entries. */
export type GpuBackendName = Exclude<BackendName, 'cpu'>;

/** A kernel package reduced to the exports the bench uses; each may be missing. */
export interface KernelPackage {
  name: string;
  attention?: AttentionFn;
  benchmark?: BenchmarkFn;
  /** Probes the package's backends (from its `…Backends` export), or undefined when it has none. */
  backends?: () => Promise<ApiBackendStatus[]>;
  /** Device-resident entries per GPU backend (`…AttentionDevice` for cuda, `…AttentionWebGpu` for webgpu). */
  deviceEntries?: Partial<Record<GpuBackendName, DeviceAttentionFn>>;
  /** Every export, for the parts of the bench that look up optional hooks by name (the WebGPU schedule sweep). */
  exports?: Record<string, unknown>;
  /** Why the package could not be imported at all. */
  loadError?: string;
}

/** `@qattn/reference` reduced to what the bench uses. */
export interface ReferencePackage {
  attention?: (q: Float32Array, k: Float32Array, v: Float32Array, shape: ApiShape, options?: { causal?: boolean }) => Float64Array;
  compare?: (actual: ArrayLike<number>, expected: ArrayLike<number>) => { cos: number; relL2: number; maxAbs: number; rmse: number };
  generateInputs?: (shape: ApiShape, options: { kind: DataKind; seed?: number }) => { q: Float32Array; k: Float32Array; v: Float32Array };
  loadError?: string;
}

function asFunction<T>(value: unknown): T | undefined {
  return typeof value === 'function' ? (value as T) : undefined;
}

/**
 * Turns whatever a package exports as `…Backends` into a status prober: a function returning statuses, a registry
 * with `status()`, or a plain array.
 */
function backendProber(exported: unknown): (() => Promise<ApiBackendStatus[]>) | undefined {
  if (exported === undefined || exported === null) return undefined;
  const normalize = (value: unknown): ApiBackendStatus[] => {
    if (!Array.isArray(value)) throw new Error(`backend status is not a list (${typeof value})`);
    return value as ApiBackendStatus[];
  };
  if (typeof exported === 'function') return async () => normalize(await (exported as () => unknown)());
  if (Array.isArray(exported)) return async () => normalize(exported);
  const status = (exported as { status?: unknown }).status;
  if (typeof status === 'function') return async () => normalize(await (status as () => unknown).call(exported));
  return undefined;
}

/**
 * Imports one package. The specifiers are literal `import('…')` calls (not a variable) so that the GPU-host bundle
 * (gpu/tsup.gpu.config.ts) can inline them; the module is then treated as an untyped record and checked export by
 * export.
 */
async function importModule(name: string, load: () => Promise<unknown>): Promise<{ module?: Record<string, unknown>; error?: string }> {
  try {
    return { module: (await load()) as Record<string, unknown> };
  } catch (err) {
    return { error: `cannot import ${name}: ${(err as Error).message}` };
  }
}

/** Imports `@qattn/flash-int8` and `@qattn/turbo-attn` and picks out their contract exports. */
export async function loadKernelPackages(): Promise<{ flashInt8: KernelPackage; turbo: KernelPackage }> {
  const [flash, turbo] = await Promise.all([
    importModule('@qattn/flash-int8', () => import('@qattn/flash-int8')),
    importModule('@qattn/turbo-attn', () => import('@qattn/turbo-attn')),
  ]);
  const pick = (name: string, loaded: typeof flash, prefix: 'flashInt8' | 'turbo'): KernelPackage => {
    if (!loaded.module) return { name, loadError: loaded.error };
    const m = loaded.module;
    const entry = `${prefix}Attention`;
    const deviceEntries: Partial<Record<GpuBackendName, DeviceAttentionFn>> = {};
    const cudaEntry = asFunction<DeviceAttentionFn>(m[`${entry}Device`]);
    const webgpuEntry = asFunction<DeviceAttentionFn>(m[`${entry}WebGpu`]);
    if (cudaEntry) deviceEntries.cuda = cudaEntry;
    if (webgpuEntry) deviceEntries.webgpu = webgpuEntry;
    return {
      name,
      attention: asFunction<AttentionFn>(m[entry]),
      benchmark: asFunction<BenchmarkFn>(m[`${prefix}Benchmark`]),
      backends: backendProber(m[`${prefix}Backends`]),
      deviceEntries,
      exports: m,
    };
  };
  return { flashInt8: pick('@qattn/flash-int8', flash, 'flashInt8'), turbo: pick('@qattn/turbo-attn', turbo, 'turbo') };
}

/** Imports `@qattn/reference`. */
export async function loadReferencePackage(): Promise<ReferencePackage> {
  const loaded = await importModule('@qattn/reference', () => import('@qattn/reference'));
  if (!loaded.module) return { loadError: loaded.error };
  const m = loaded.module;
  return {
    attention: asFunction(m.attention),
    compare: asFunction(m.compare),
    generateInputs: asFunction(m.generateInputs),
  };
}

/** `@qattn/cuda-runtime`'s process-wide runtime, reduced to what the overhead benchmark uses. */
export interface ApiCudaRuntime {
  upload(host: Float32Array, dtype: 'float32', dims: readonly number[]): Promise<ApiDeviceTensor>;
  download(tensor: ApiDeviceTensor, host: Float32Array): Promise<void>;
  synchronize(): Promise<void>;
  memInfo(): Promise<{ free: number; total: number }>;
  liveBuffers(): number;
}

/** `@qattn/webgpu-runtime` reduced to what the overhead benchmark and the schedule sweep use. */
export interface ApiWebGpuRuntime {
  acquireGpu(): Promise<ApiGpuContext>;
  fromArray(context: ApiGpuContext, data: Float32Array, dims: readonly number[]): ApiDeviceTensor;
}

/** A WebGPU device context (`GpuContext`): the parts the bench reads. */
export interface ApiGpuContext {
  adapter?: Record<string, unknown>;
  limits?: Record<string, number>;
  software?: boolean;
  capabilities?: Record<string, unknown>;
}

/** The two runtimes, each with the reason it could not be imported. */
export interface RuntimePackages {
  cuda?: { getRuntime: () => ApiCudaRuntime; exports: Record<string, unknown> };
  cudaError?: string;
  webgpu?: ApiWebGpuRuntime & { exports: Record<string, unknown> };
  webgpuError?: string;
}

/**
 * Imports `@qattn/cuda-runtime` and `@qattn/webgpu-runtime` (nothing is initialized: `getCudaRuntime` and
 * `acquireGpu` run only when a GPU entry is measured).
 */
export async function loadRuntimePackages(): Promise<RuntimePackages> {
  const [cuda, webgpu] = await Promise.all([
    importModule('@qattn/cuda-runtime', () => import('@qattn/cuda-runtime')),
    importModule('@qattn/webgpu-runtime', () => import('@qattn/webgpu-runtime')),
  ]);
  const out: RuntimePackages = {};
  const getCudaRuntime = asFunction<() => ApiCudaRuntime>(cuda.module?.getCudaRuntime);
  if (cuda.module && getCudaRuntime) out.cuda = { getRuntime: getCudaRuntime, exports: cuda.module };
  else out.cudaError = cuda.error ?? '@qattn/cuda-runtime exports no getCudaRuntime';
  const acquireGpu = asFunction<() => Promise<ApiGpuContext>>(webgpu.module?.acquireGpu);
  const tensorClass = webgpu.module?.WebGpuTensor as { fromArray?: ApiWebGpuRuntime['fromArray'] } | undefined;
  if (webgpu.module && acquireGpu && typeof tensorClass?.fromArray === 'function') {
    out.webgpu = {
      acquireGpu: () => acquireGpu(),
      fromArray: (context, data, dims) => tensorClass.fromArray!.call(tensorClass, context, data, dims),
      exports: webgpu.module,
    };
  } else {
    out.webgpuError = webgpu.error ?? '@qattn/webgpu-runtime exports no acquireGpu / WebGpuTensor.fromArray';
  }
  return out;
}
