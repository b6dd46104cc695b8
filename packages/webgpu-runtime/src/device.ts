import { QattnError } from '@qattn/quant-core';

/** What a kernel package needs to know about the device before choosing kernels and tiles. */
export interface GpuCapabilities {
  /** `shader-f16`: f16 arithmetic and storage in WGSL. */
  shaderF16: boolean;
  /** `timestamp-query`: GPU-side timers for benchmarks. */
  timestampQuery: boolean;
  /** `subgroups`: subgroup builtins in WGSL. */
  subgroups: boolean;
  /** WGSL language feature `packed_4x8_integer_dot_product`: `dot4I8Packed` / `dot4U8Packed`. */
  packedDot4: boolean;
  /**
   * `chromium-experimental-subgroup-matrix` on the device: WGSL `enable chromium_experimental_subgroup_matrix;` and the
   * shapes of {@link SubgroupInfo.matrixConfigs}. Only requested when asked for ({@link AcquireOptions.subgroupMatrix}).
   */
  subgroupMatrix: boolean;
}

/** One entry of `GPUAdapterInfo.subgroupMatrixConfigs`: an M×K · K×N → M×N product the device's matrix units run. */
export interface SubgroupMatrixConfig {
  /** Element type of the left and right matrices: `'i8'`, `'u8'`, `'f16'`, `'f32'`, … */
  readonly componentType: string;
  /** Element type of the result (accumulator) matrix: `'i32'`, `'u32'`, `'f16'`, `'f32'`, … */
  readonly resultComponentType: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

/** What the adapter reports about its subgroups (`GPUAdapterInfo`); sizes are 0 where the platform does not say. */
export interface SubgroupInfo {
  readonly minSize: number;
  readonly maxSize: number;
  /** The subgroup-matrix configurations; empty unless the device has {@link GpuCapabilities.subgroupMatrix}. */
  readonly matrixConfigs: readonly SubgroupMatrixConfig[];
}

/** The adapter limits that shape compute schedules (copied from `device.limits`). */
export interface ComputeLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxStorageBuffersPerShaderStage: number;
}

/** Human-readable adapter identity (fields are empty strings where the platform hides them). */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/** A device ready for qattn kernels, with what was probed about it. */
export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapter: AdapterSummary;
  readonly capabilities: GpuCapabilities;
  readonly limits: ComputeLimits;
  /** Subgroup sizes and subgroup-matrix configurations, for kernels that pick a matrix shape. */
  readonly subgroupInfo: SubgroupInfo;
  /**
   * A CPU implementation (lavapipe, SwiftShader): kernels then favour compile time over unrolling, since these
   * compile WGSL through LLVM on the host and fully unrolled tiles take tens of seconds to build.
   */
  readonly software: boolean;
  /** True when qattn acquired the device (and may destroy it); false for a device the caller passed in. */
  readonly owned: boolean;
  /** Where the device came from: Dawn in Node, `navigator.gpu` in a browser, or the caller. */
  readonly source: 'dawn' | 'navigator' | 'caller';
  /** Set once the device is lost; every later use throws `ERR_QATTN_DEVICE`. */
  readonly lostReason: string | undefined;
}

/** Options of {@link acquireGpu}. */
export interface AcquireOptions {
  /** Use this device instead of acquiring one. Its capabilities are probed once and cached. */
  device?: GPUDevice;
  /** Adapter preference when qattn acquires the device. Default `'high-performance'`. */
  powerPreference?: GPUPowerPreference;
  /**
   * Request `chromium-experimental-subgroup-matrix` where the adapter offers it (INT8 matrix units; experimental, so
   * off by default). In Node this also creates Dawn with `allow_unsafe_apis`, without which Dawn hides experimental
   * features; in Chrome the adapter offers it with the "Unsafe WebGPU Support" flag (`--enable-unsafe-webgpu`).
   * Decided by the call that acquires the shared device (the first one, or the first after a loss). Default:
   * {@link subgroupMatrixRequested}.
   */
  subgroupMatrix?: boolean;
}

/** The WebGPU feature behind WGSL's `chromium_experimental_subgroup_matrix` (not in @webgpu/types yet). */
export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix' as GPUFeatureName;

/**
 * Whether the environment opts in to subgroup matrices: `QATTN_WEBGPU_SUBGROUP_MATRIX=1` (Node). The one switch for
 * the device request ({@link AcquireOptions.subgroupMatrix}) and for kernels that select a subgroup-matrix path.
 */
export function subgroupMatrixRequested(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  return env.QATTN_WEBGPU_SUBGROUP_MATRIX === '1';
}

const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'timestamp-query', 'subgroups'];

const LIMIT_NAMES = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
] as const satisfies ReadonlyArray<keyof ComputeLimits>;

const HOW_TO_GET_AN_ADAPTER =
  'In Node, qattn uses Dawn (npm package `webgpu`) on a system-wide Vulkan driver: install your GPU vendor\'s driver, ' +
  'or a software one (Debian 12: `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`, Mesa ≥ 24 ' +
  'lavapipe; Ubuntu ≥ 24.04: `apt-get install mesa-vulkan-drivers`). In a browser, use one with WebGPU enabled.';

class Context implements GpuContext {
  lostReason: string | undefined = undefined;
  readonly software: boolean;
  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary & { isFallbackAdapter?: boolean },
    readonly capabilities: GpuCapabilities,
    readonly limits: ComputeLimits,
    readonly subgroupInfo: SubgroupInfo,
    readonly owned: boolean,
    readonly source: GpuContext['source'],
  ) {
    this.software = adapter.isFallbackAdapter === true || /software|cpu|llvmpipe|swiftshader/i.test(`${adapter.architecture} ${adapter.device} ${adapter.description}`);
  }
}

// Dawn destroys every device of a `create()` instance when that instance is garbage-collected, which crashes the
// process on the next GPU call; the instances therefore live at module level for as long as the module does. One per
// flag set: with and without `allow_unsafe_apis` (subgroup matrices).
const dawnInstances = new Map<string, GPU>();
let ownedContext: Promise<Context> | undefined;
const callerContexts = new WeakMap<GPUDevice, Promise<Context>>();

/**
 * Returns a device for qattn kernels: the caller's (`options.device`), or one qattn acquires and reuses across calls
 * — from `navigator.gpu` in browsers, from Dawn (npm `webgpu`) in Node. A lost device is replaced on the next call.
 *
 * Throws `ERR_QATTN_BACKEND_UNAVAILABLE` when there is no WebGPU implementation or no adapter, saying why and how
 * to get one.
 */
export async function acquireGpu(options: AcquireOptions = {}): Promise<GpuContext> {
  if (options.device) {
    const device = options.device;
    let pending = callerContexts.get(device);
    if (!pending) {
      pending = describeCallerDevice(device);
      callerContexts.set(device, pending);
    }
    return pending;
  }
  if (ownedContext) {
    const context = await ownedContext.catch(() => undefined);
    if (context && context.lostReason === undefined) return context;
    ownedContext = undefined;
  }
  const pending = acquireOwnedDevice(options.powerPreference ?? 'high-performance', options.subgroupMatrix ?? subgroupMatrixRequested());
  ownedContext = pending;
  pending.catch(() => {
    if (ownedContext === pending) ownedContext = undefined;
  });
  return pending;
}

/**
 * Destroys the device qattn acquired (not a caller's). Tensors on it become unusable; the next {@link acquireGpu}
 * acquires a new device. Safe to call when none is held.
 */
export async function releaseGpu(): Promise<void> {
  const pending = ownedContext;
  ownedContext = undefined;
  const context = await pending?.catch(() => undefined);
  if (context && context.lostReason === undefined) {
    context.lostReason = 'released by releaseGpu()';
    context.device.destroy();
  }
}

/** Throws `ERR_QATTN_DEVICE` when `context`'s device has been lost. */
export function assertAlive(context: GpuContext, operation: string): void {
  if (context.lostReason !== undefined) {
    throw new QattnError('ERR_QATTN_DEVICE', `${operation}: the WebGPU device was lost (${context.lostReason}); call again to use a new device`, {
      operation,
      reason: context.lostReason,
    });
  }
}

async function loadGpu(unsafeApis: boolean): Promise<{ gpu: GPU; source: 'dawn' | 'navigator' }> {
  const fromNavigator = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (fromNavigator) return { gpu: fromNavigator, source: 'navigator' };
  // Dawn rounds timestamp queries down to 2^16 ns (a browser anti-fingerprinting measure) unless this toggle is off;
  // benchmarks of sub-millisecond kernels need the real resolution, and Node has no page to fingerprint.
  // `allow_unsafe_apis` exposes Dawn's experimental features (subgroup matrices) and is only set when they are asked for.
  const flags = ['disable-dawn-features=timestamp_quantization', ...(unsafeApis ? ['enable-dawn-features=allow_unsafe_apis'] : [])];
  const key = flags.join(' ');
  let dawnInstance = dawnInstances.get(key);
  if (!dawnInstance) {
    // A non-literal specifier keeps browser bundlers from trying to resolve the Node-only package.
    const specifier = 'webgpu';
    let dawn: { create: (flags: string[]) => GPU };
    try {
      dawn = (await import(/* @vite-ignore */ specifier)) as typeof dawn;
    } catch (err) {
      throw new QattnError(
        'ERR_QATTN_BACKEND_UNAVAILABLE',
        `WebGPU is not available: no navigator.gpu, and the Dawn package 'webgpu' could not be loaded (${(err as Error).message}). ` +
          `Install it with \`npm install webgpu\`. ${HOW_TO_GET_AN_ADAPTER}`,
        { reason: 'no-implementation' },
        { cause: err },
      );
    }
    dawnInstance = dawn.create(flags);
    dawnInstances.set(key, dawnInstance);
  }
  return { gpu: dawnInstance, source: 'dawn' };
}

async function acquireOwnedDevice(powerPreference: GPUPowerPreference, subgroupMatrix: boolean): Promise<Context> {
  const { gpu, source } = await loadGpu(subgroupMatrix);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference });
  } catch (err) {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `WebGPU requestAdapter failed: ${(err as Error).message}. ${HOW_TO_GET_AN_ADAPTER}`, {
      reason: 'adapter-error',
    });
  }
  if (!adapter) {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `No WebGPU adapter found (${source}). ${HOW_TO_GET_AN_ADAPTER}`, {
      reason: 'no-adapter',
      source,
    });
  }
  const wanted = subgroupMatrix ? [...OPTIONAL_FEATURES, SUBGROUP_MATRIX_FEATURE] : OPTIONAL_FEATURES;
  const requiredFeatures = wanted.filter((feature) => adapter.features.has(feature));
  // Ask for the adapter's maxima of the limits that bound our tiles and buffers; the defaults (16 KiB of workgroup
  // memory, 128 MiB bindings) would force small tiles even on GPUs that have 48+ KiB.
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) requiredLimits[name] = adapter.limits[name];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'qattn' });
  } catch (err) {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `WebGPU requestDevice failed: ${(err as Error).message}`, { reason: 'device-error' });
  }
  const packedDot4 = gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') ?? (await probePackedDot4(device));
  const capabilities = capabilitiesOf(device, packedDot4);
  const context = new Context(device, summarizeAdapter(adapter.info), capabilities, limitsOf(device), subgroupInfoOf(adapter.info, capabilities), true, source);
  watchLoss(context);
  return context;
}

async function describeCallerDevice(device: GPUDevice): Promise<Context> {
  const fromNavigator = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  // A caller's device may come from another Dawn instance or browser realm; compiling a probe shader on the device
  // itself is the one answer that is right for it.
  const packedDot4 = fromNavigator?.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') ?? (await probePackedDot4(device));
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const capabilities = capabilitiesOf(device, packedDot4);
  const context = new Context(device, summarizeAdapter(info), capabilities, limitsOf(device), subgroupInfoOf(info, capabilities), false, 'caller');
  watchLoss(context);
  return context;
}

function watchLoss(context: Context): void {
  void context.device.lost.then((info) => {
    context.lostReason = `${info.reason ?? 'unknown'}${info.message ? `: ${info.message}` : ''}`;
    if (context.owned && ownedContext) {
      const current = ownedContext;
      void current.then((held) => {
        if (held === context && ownedContext === current) ownedContext = undefined;
      });
    }
  });
}

async function probePackedDot4(device: GPUDevice): Promise<boolean> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({
    code: '@compute @workgroup_size(1) fn main() { _ = dot4I8Packed(1u, 1u); }',
    label: 'qattn probe packed_4x8_integer_dot_product',
  });
  const info = await module.getCompilationInfo();
  const error = await device.popErrorScope();
  return error === null && !info.messages.some((message) => message.type === 'error');
}

function capabilitiesOf(device: GPUDevice, packedDot4: boolean): GpuCapabilities {
  return {
    shaderF16: device.features.has('shader-f16'),
    timestampQuery: device.features.has('timestamp-query'),
    subgroups: device.features.has('subgroups'),
    packedDot4,
    subgroupMatrix: device.features.has(SUBGROUP_MATRIX_FEATURE),
  };
}

/** Subgroup sizes and matrix configurations from the adapter info (Dawn and Chrome report both; others may not). */
function subgroupInfoOf(info: GPUAdapterInfo | undefined, capabilities: GpuCapabilities): SubgroupInfo {
  const extended = info as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> }) | undefined;
  const configs = capabilities.subgroupMatrix ? [...(extended?.subgroupMatrixConfigs ?? [])] : [];
  return {
    minSize: extended?.subgroupMinSize ?? 0,
    maxSize: extended?.subgroupMaxSize ?? 0,
    // Plain copies: the platform's config objects may be live host objects.
    matrixConfigs: configs.map(({ componentType, resultComponentType, M, N, K }) => ({ componentType, resultComponentType, M, N, K })),
  };
}

function limitsOf(device: GPUDevice): ComputeLimits {
  const limits = {} as ComputeLimits;
  for (const name of LIMIT_NAMES) limits[name] = device.limits[name];
  return limits;
}

function summarizeAdapter(info: GPUAdapterInfo | undefined): AdapterSummary & { isFallbackAdapter?: boolean } {
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter,
  };
}
