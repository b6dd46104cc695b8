// The process-wide CUDA runtime: one stream on device 0, device tensors, and the ordered queue through which every
// kernel addon launches.
//
// Queue model: each device operation is one job. The addon's queue thread enqueues a job's work on the stream and
// records an event without waiting; a completion thread waits on the events in order and settles the promises, so
// promises settle in submission order and a call's promise means "this work has finished on the device". Allocation
// is stream-ordered (a memory pool): `empty()` does not wait for the queue. Frees run in stream order after every job
// submitted before them.
//
// API added for "plan once, run many" (fixed; kernel packages build on it):
//
//   interface LaunchStep   { readonly launcher: bigint; readonly args: Uint8Array }        // a qattn_launch_fn + args
//   interface TransferStep { readonly tensor: DeviceTensor; readonly host: ArrayBufferView } // host.byteLength ===
//                                                                                            // tensor.byteLength
//   interface SubmitJob {
//     readonly uploads?: readonly TransferStep[];    // host → device, first
//     readonly launches?: readonly LaunchStep[];     // then these launchers, in order
//     readonly downloads?: readonly TransferStep[];  // then device → host; the host arrays hold the data on resolve
//   }
//   runtime.submit(job: SubmitJob, what: string): Promise<void>  // ONE queue job, one event, one promise
//   runtime.fillStep(tensor, byteValue): LaunchStep            // built-in launchers without kernels (memset, D2D copy)
//   runtime.copyStep(dst, src): LaunchStep                     //   for use inside a submit()
//   runtime.releaseCaches(): Promise<void>  // PlanCache.clearAll(), then returns pooled device and pinned memory
//
//   await rt.submit({ uploads: [{ tensor: plan.q, host: q }, …], launches: [{ launcher, args: plan.args }],
//                     downloads: [{ tensor: plan.out, host: out }] }, 'flash-int8 attention');
//
// A failing step rejects the promise with `ERR_QATTN_DEVICE` naming `what` and the step ("launch 1 of 2: …"); the
// steps after it are skipped, the ones before it have run.
import { QattnError, copyViewBytes, isQattnError, isSharedView, unsharedView } from '@qattn/quant-core';
import type { Binding, NativeProbe, NativeTransfer } from './binding.js';
import { loadAddon, packageRoot } from './node-loader.js';
import { PlanCache } from './plan-cache.js';
import { DTYPE_BYTES, type DeviceDType, DeviceTensor } from './tensor.js';
import { type CudaTraceSummary, summarizeTrace } from './trace.js';

/** The CUDA device the runtime drives (device 0 of the driver's primary context). */
export interface CudaDeviceInfo {
  name: string;
  /** [major, minor], e.g. [9, 0] for H100/H200. */
  computeCapability: [number, number];
  multiProcessorCount: number;
  totalGlobalMem: number;
  sharedMemPerBlockOptin: number;
  l2CacheSize: number;
  /** CUDA runtime the addon was built with and the driver's CUDA version, as integers (13000 = 13.0). */
  runtimeVersion: number;
  driverVersion: number;
}

const ADDON_FILE = 'qattn_cuda_runtime.node';
const PACKAGE = '@qattn/cuda-runtime';
/** Environment variable that may point at a prebuilt `qattn_cuda_runtime.node` (bundled deployments). */
export const CUDA_RUNTIME_ADDON_ENV = 'QATTN_CUDA_RUNTIME_ADDON';

/** One call of a kernel addon's launcher (`qattn_launch_fn`, native/include/qattn/launch_abi.h) with its packed args. */
export interface LaunchStep {
  readonly launcher: bigint;
  readonly args: Uint8Array;
}

/** A copy between a device tensor and a host typed array of exactly the tensor's byte length. */
export interface TransferStep {
  readonly tensor: DeviceTensor;
  readonly host: ArrayBufferView;
}

/**
 * The steps of one {@link CudaRuntime.submit} job, run in this order on the stream: every upload, every launch, every
 * download. A typed-array kernel call is one such job, hence one queue round trip.
 */
export interface SubmitJob {
  readonly uploads?: readonly TransferStep[];
  readonly launches?: readonly LaunchStep[];
  readonly downloads?: readonly TransferStep[];
}

/** Largest freed block {@link CudaRuntime.free} keeps for reuse (decode outputs are tens of KiB). */
const RECYCLE_MAX_BLOCK_BYTES = 1 << 20;
/** Most bytes of freed blocks kept for reuse in all. */
const RECYCLE_MAX_BYTES = 8 << 20;
/** Most freed blocks of one size kept (a few calls in flight, each with its outputs). */
const RECYCLE_MAX_BLOCKS_PER_SIZE = 8;

/** Bytes of `QattnBuiltinArgs` (native/runtime_addon.cc): dst, src, bytes as u64, value as i32, 4 bytes of padding. */
const BUILTIN_ARGS_BYTES = 32;

function builtinArgs(dst: bigint, src: bigint, bytes: number, value: number): Uint8Array {
  const args = new Uint8Array(BUILTIN_ARGS_BYTES);
  const view = new DataView(args.buffer);
  view.setBigUint64(0, dst, true);
  view.setBigUint64(8, src, true);
  view.setBigUint64(16, BigInt(bytes), true);
  view.setInt32(24, value, true);
  return args;
}

/**
 * The host side of a copy as the addon takes it. The addon reads typed arrays through node-addon-api's
 * `ArrayBuffer::Data()`, which rejects views over a SharedArrayBuffer ("Invalid argument"): an upload hands it a
 * snapshot of a shared array ({@link unsharedView}); a download lands in a private array that `landShared` copies into
 * the caller's once the job has finished, so a failed job leaves the caller's array untouched.
 */
interface HostSide {
  readonly host: ArrayBufferView;
  /** Where a download's private array is copied to on success (a shared caller array), else undefined. */
  readonly sharedTarget?: ArrayBufferView;
}

function hostSide(kind: 'upload' | 'download', host: ArrayBufferView): HostSide {
  if (!isSharedView(host)) return { host };
  if (kind === 'upload') return { host: unsharedView(host) };
  return { host: new Uint8Array(host.byteLength), sharedTarget: host };
}

/** Copies each download's private array into the shared caller array it stands in for. */
function landShared(sides: readonly HostSide[]): void {
  for (const { host, sharedTarget } of sides) if (sharedTarget) copyViewBytes(sharedTarget, host);
}

function transfers(kind: 'upload' | 'download', steps: readonly TransferStep[] | undefined): Array<NativeTransfer & HostSide> {
  if (!steps) return [];
  return steps.map(({ tensor, host }, index) => {
    if (!ArrayBuffer.isView(host)) {
      throw new QattnError('ERR_QATTN_DTYPE', `submit: ${kind} ${index + 1} of ${steps.length}: host must be a typed array`, { step: kind, index });
    }
    if (host.byteLength !== tensor.byteLength) {
      throw new QattnError(
        'ERR_QATTN_SHAPE',
        `submit: ${kind} ${index + 1} of ${steps.length}: host array of ${host.byteLength} bytes for a [${tensor.dims.join(', ')}] ${tensor.dtype} tensor of ${tensor.byteLength} bytes`,
        { step: kind, index },
      );
    }
    return { pointer: tensor.pointer, ...hostSide(kind, host) };
  });
}

function deviceError(err: unknown, call: string): QattnError {
  if (isQattnError(err)) return err;
  const message = (err as Error)?.message ?? String(err);
  const cudaStatus = (err as { cudaStatus?: number })?.cudaStatus;
  return new QattnError('ERR_QATTN_DEVICE', `${call}: ${message}`, { call, cudaStatus }, { cause: err });
}

/**
 * The process-wide CUDA runtime: one stream on device 0, device tensors, and the ordered queue through which kernel
 * addons of every @qattn package launch. Obtain it with {@link getCudaRuntime}.
 *
 * Every method that touches the device returns a promise that settles, in submission order, once its work has
 * finished on the device; none of them blocks the queue on the GPU, so calls issued without awaiting pipeline.
 */
export class CudaRuntime {
  /** Freed small blocks by byte size, reused by {@link empty} (see {@link free}). */
  readonly #recycled = new Map<number, bigint[]>();
  #recycledBlocks = 0;
  #recycledBytes = 0;

  /** @internal */
  constructor(
    readonly binding: Binding,
    readonly device: CudaDeviceInfo,
  ) {}

  /**
   * Allocates an uninitialized tensor from the runtime's stream-ordered memory pool (no wait on the queue once the
   * device is initialized). Out-of-memory throws `ERR_QATTN_DEVICE` and leaves the runtime usable. Freed memory stays
   * in the pool for reuse until {@link releaseCaches}; a small block freed recently is reused at once, without a call
   * into the addon (see {@link free}).
   */
  async empty<D extends DeviceDType>(dtype: D, dims: readonly number[]): Promise<DeviceTensor<D>> {
    let elements = 1;
    for (let i = 0; i < dims.length; i++) {
      const d = dims[i];
      if (!Number.isInteger(d) || d < 0) {
        throw new QattnError('ERR_QATTN_SHAPE', `device tensor dims must be non-negative integers, got [${dims.join(', ')}]`);
      }
      elements *= d;
    }
    if (!(dtype in DTYPE_BYTES)) throw new QattnError('ERR_QATTN_DTYPE', `unknown device dtype '${String(dtype)}'`);
    const bytes = elements * DTYPE_BYTES[dtype];
    const pointer = this.#reuse(bytes) ?? (await this.#alloc(bytes));
    return new DeviceTensor(this, pointer, dtype, dims.slice());
  }

  async #alloc(bytes: number): Promise<bigint> {
    try {
      return await this.binding.alloc(bytes);
    } catch (err) {
      if (this.#recycledBlocks === 0) throw deviceError(err, `cudaMalloc(${bytes} bytes)`);
    }
    // Out of memory with recycled blocks held: hand them back to the pool and try once more.
    this.#releaseRecycled();
    try {
      return await this.binding.alloc(bytes);
    } catch (err) {
      throw deviceError(err, `cudaMalloc(${bytes} bytes)`);
    }
  }

  /** A recycled block of exactly `bytes`, or undefined. */
  #reuse(bytes: number): bigint | undefined {
    const blocks = this.#recycled.get(bytes);
    const pointer = blocks?.pop();
    if (pointer === undefined) return undefined;
    this.#recycledBlocks--;
    this.#recycledBytes -= bytes;
    return pointer;
  }

  /** Frees every recycled block (in stream order, as any free). */
  #releaseRecycled(): void {
    for (const blocks of this.#recycled.values()) for (const pointer of blocks) this.binding.free(pointer);
    this.#recycled.clear();
    this.#recycledBlocks = 0;
    this.#recycledBytes = 0;
  }

  /** Allocates a tensor and uploads `host` into it (float16 data as Uint16Array bits). */
  async upload<D extends DeviceDType>(host: ArrayBufferView, dtype: D, dims: readonly number[]): Promise<DeviceTensor<D>> {
    const tensor = await this.empty(dtype, dims);
    if (host.byteLength !== tensor.byteLength) {
      tensor.dispose();
      throw new QattnError('ERR_QATTN_SHAPE', `upload: ${host.byteLength} bytes of host data for a [${dims.join(', ')}] ${dtype} tensor of ${tensor.byteLength} bytes`);
    }
    try {
      await this.binding.upload(tensor.pointer, hostSide('upload', host).host);
    } catch (err) {
      tensor.dispose();
      throw deviceError(err, 'upload');
    }
    return tensor;
  }

  /** Copies a device tensor into `host` (which must have exactly the tensor's byte length). */
  async download(tensor: DeviceTensor, host: ArrayBufferView): Promise<void> {
    if (host.byteLength !== tensor.byteLength) {
      throw new QattnError('ERR_QATTN_SHAPE', `download: host array of ${host.byteLength} bytes for a tensor of ${tensor.byteLength} bytes`);
    }
    const side = hostSide('download', host);
    try {
      await this.binding.download(tensor.pointer, side.host);
    } catch (err) {
      throw deviceError(err, 'download');
    }
    landShared([side]);
  }

  /** Sets every byte of the tensor to `byteValue` (tests poison outputs this way). */
  async fill(tensor: DeviceTensor, byteValue: number): Promise<void> {
    try {
      await this.binding.memset(tensor.pointer, byteValue, tensor.byteLength);
    } catch (err) {
      throw deviceError(err, 'cudaMemsetAsync');
    }
  }

  /**
   * @internal Used by {@link DeviceTensor.dispose}. A block of at most `RECYCLE_MAX_BLOCK_BYTES` whose size
   * (`bytes`, as allocated) is known is kept for the next {@link empty} of the same size instead of going back to the
   * addon: a decode loop that allocates and frees its outputs every step then makes no alloc and free calls (each a
   * driver call, the free also a queue job that wakes the queue thread). Reusing it is as safe as the pool's own
   * reuse: every job that used the old tensor was submitted before, and the one stream runs jobs in submission order.
   * At most `RECYCLE_MAX_BLOCKS_PER_SIZE` blocks per size and `RECYCLE_MAX_BYTES` in all are kept;
   * {@link releaseCaches} frees them.
   */
  free(pointer: bigint, bytes?: number): void {
    if (bytes !== undefined && bytes <= RECYCLE_MAX_BLOCK_BYTES && this.#recycledBytes + bytes <= RECYCLE_MAX_BYTES) {
      let blocks = this.#recycled.get(bytes);
      if (blocks === undefined) this.#recycled.set(bytes, (blocks = []));
      if (blocks.length < RECYCLE_MAX_BLOCKS_PER_SIZE) {
        blocks.push(pointer);
        this.#recycledBlocks++;
        this.#recycledBytes += bytes;
        return;
      }
    }
    this.binding.free(pointer);
  }

  /**
   * Runs one job of uploads, launches and downloads (in that order) on the stream; resolves when all of it has
   * finished and every download's host array holds its data. Host arrays are kept alive and must not be touched
   * until then. `what` names the job in errors, followed by the failing step ("launch 2 of 3: …"). Throws
   * `ERR_QATTN_SHAPE` before submitting anything when a host array's byte length differs from its tensor's, and
   * `ERR_QATTN_DISPOSED` when a tensor was disposed.
   */
  async submit(job: SubmitJob, what: string): Promise<void> {
    const uploads = transfers('upload', job.uploads);
    const downloads = transfers('download', job.downloads);
    const launches = job.launches ?? [];
    try {
      await this.binding.submit({ uploads, launches, downloads }, what);
    } catch (err) {
      throw deviceError(err, what);
    }
    landShared(downloads);
  }

  /** A launch step that sets every byte of `tensor` to `byteValue` (cudaMemsetAsync; no kernel), for {@link submit}. */
  fillStep(tensor: DeviceTensor, byteValue: number): LaunchStep {
    if (!Number.isInteger(byteValue) || byteValue < 0 || byteValue > 255) {
      throw new QattnError('ERR_QATTN_OPTION', `fillStep: byteValue must be an integer in [0, 255], got ${byteValue}`, { option: 'byteValue' });
    }
    return { launcher: this.binding.builtinLaunchers.fill, args: builtinArgs(tensor.pointer, 0n, tensor.byteLength, byteValue) };
  }

  /** A launch step that copies `src` into `dst` (cudaMemcpyAsync device to device), for {@link submit}. */
  copyStep(dst: DeviceTensor, src: DeviceTensor): LaunchStep {
    if (dst.byteLength !== src.byteLength) {
      throw new QattnError('ERR_QATTN_SHAPE', `copyStep: ${src.byteLength} bytes into a tensor of ${dst.byteLength} bytes`);
    }
    return { launcher: this.binding.builtinLaunchers.copy, args: builtinArgs(dst.pointer, src.pointer, dst.byteLength, 0) };
  }

  /**
   * Clears every {@link PlanCache} (plans held by calls in flight are disposed when those settle), then, after every
   * job submitted before, returns the memory pool's unused device memory and the pinned staging buffers to the driver.
   * Leak checks call it before comparing `liveBuffers()` and `memInfo()` with their baseline.
   */
  async releaseCaches(): Promise<void> {
    PlanCache.clearAll();
    this.#releaseRecycled();
    try {
      await this.binding.trimCaches();
    } catch (err) {
      throw deviceError(err, 'cudaMemPoolTrimTo');
    }
  }

  /**
   * Runs a kernel addon's launcher (`qattn_launch_fn`, see native/include/qattn/launch_abi.h) with its packed
   * arguments in stream order; resolves when the kernels have finished (an event recorded after them completed), so
   * an asynchronous kernel fault rejects this call. `what` names the launch in errors.
   */
  async launch(launcher: bigint, args: Uint8Array, what: string): Promise<void> {
    try {
      await this.binding.launch(launcher, args, what);
    } catch (err) {
      throw deviceError(err, what);
    }
  }

  /** Times a launcher with CUDA events: `warmup` untimed launches, then one sample (ms) per repeat. */
  async time(launcher: bigint, args: Uint8Array, what: string, warmup: number, repeats: number): Promise<number[]> {
    try {
      return await this.binding.time(launcher, args, warmup, repeats, what);
    } catch (err) {
      throw deviceError(err, what);
    }
  }

  /** Resolves once everything submitted before has finished on the device. */
  async synchronize(): Promise<void> {
    try {
      await this.binding.synchronize();
    } catch (err) {
      throw deviceError(err, 'cudaStreamSynchronize');
    }
  }

  /** Free and total device memory in bytes. */
  async memInfo(): Promise<{ free: number; total: number }> {
    try {
      return await this.binding.memInfo();
    } catch (err) {
      throw deviceError(err, 'cudaMemGetInfo');
    }
  }

  /** Number of device allocations not yet disposed, across every package (leak tests compare it before/after). */
  liveBuffers(): number {
    // Recycled blocks are freed tensors: the addon still holds them, no tensor does.
    return this.binding.liveBuffers() - this.#recycledBlocks;
  }

  /**
   * Whether the jobs submitted now are traced (src/trace.ts): on when `QATTN_CUDA_TRACE=1` was set as the addon
   * loaded, or after {@link setTracing}. Tracing stamps each job at every thread hand-over and times its device work;
   * off, it costs nothing measurable.
   */
  get tracing(): boolean {
    return this.binding.tracing?.() ?? false;
  }

  /** Traces the jobs submitted from now on, or stops. `ERR_QATTN_BACKEND_UNAVAILABLE` for an addon without the trace. */
  setTracing(enabled: boolean): void {
    if (!this.binding.setTrace) {
      throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', 'cuda trace: the runtime addon was built without the stage trace: rebuild it', { call: 'setTracing' });
    }
    this.binding.setTrace(enabled);
  }

  /**
   * The stage trace of the traced jobs settled since the previous call (which it forgets): median and p90 of each
   * stage, per job label (a launch's or submit's `what`, or `upload`, `free`, …). Empty while nothing was traced.
   *
   *   rt.traceSummary();                            // forget what came before
   *   for (let i = 0; i < 1000; i++) await call();
   *   console.log(rt.traceSummary().labels);        // [{ label: 'turboDecode cuda', jobs: 1000, stages: { queue: { medianUs, p90Us, count }, … } }, …]
   */
  traceSummary(): CudaTraceSummary {
    const raw = this.binding.traceTake?.();
    return raw ? summarizeTrace(raw) : { jobs: 0, dropped: 0, labels: [] };
  }
}

let cached: CudaRuntime | undefined;

function describeProbe(probe: NativeProbe): CudaDeviceInfo {
  return {
    name: probe.name ?? 'unknown',
    computeCapability: [probe.major ?? 0, probe.minor ?? 0],
    multiProcessorCount: probe.multiProcessorCount ?? 0,
    totalGlobalMem: probe.totalGlobalMem ?? 0,
    sharedMemPerBlockOptin: probe.sharedMemPerBlockOptin ?? 0,
    l2CacheSize: probe.l2CacheSize ?? 0,
    runtimeVersion: probe.runtimeVersion,
    driverVersion: probe.driverVersion,
  };
}

/**
 * Loads the addon and probes device 0 (once per process). Throws `ERR_QATTN_BACKEND_UNAVAILABLE` when the addon is
 * not built (the message names the build command) or when there is no usable CUDA device or driver.
 */
export function getCudaRuntime(): CudaRuntime {
  if (cached) return cached;
  const binding = loadAddon<Binding>(packageRoot(import.meta.url), ADDON_FILE, PACKAGE, CUDA_RUNTIME_ADDON_ENV);
  const probe = binding.probe();
  if (probe.deviceCount === 0 || probe.error) {
    throw new QattnError(
      'ERR_QATTN_BACKEND_UNAVAILABLE',
      `no CUDA device: ${probe.error ?? 'the driver reports 0 devices'}`,
      { cudaStatus: probe.cudaStatus, runtimeVersion: probe.runtimeVersion, driverVersion: probe.driverVersion },
    );
  }
  cached = new CudaRuntime(binding, describeProbe(probe));
  return cached;
}

/** Whether the CUDA runtime can be used here, and why not; never throws. */
export function cudaAvailability(): { available: true; device: CudaDeviceInfo } | { available: false; reason: string } {
  try {
    return { available: true, device: getCudaRuntime().device };
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
}
