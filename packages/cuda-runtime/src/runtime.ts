import { QattnError, isQattnError } from '@qattn/quant-core';
import type { Binding, NativeProbe } from './binding.js';
import { loadAddon, packageRoot } from './node-loader.js';
import { DTYPE_BYTES, type DeviceDType, DeviceTensor } from './tensor.js';

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

function deviceError(err: unknown, call: string): QattnError {
  if (isQattnError(err)) return err;
  const message = (err as Error)?.message ?? String(err);
  const cudaStatus = (err as { cudaStatus?: number })?.cudaStatus;
  return new QattnError('ERR_QATTN_DEVICE', `${call}: ${message}`, { call, cudaStatus }, { cause: err });
}

/**
 * The process-wide CUDA runtime: one stream on device 0, device tensors, and the ordered queue through which kernel
 * addons of every @qattn package launch. Obtain it with {@link getCudaRuntime}.
 */
export class CudaRuntime {
  /** @internal */
  constructor(
    readonly binding: Binding,
    readonly device: CudaDeviceInfo,
  ) {}

  /** Allocates an uninitialized tensor. Out-of-memory throws `ERR_QATTN_DEVICE` and leaves the runtime usable. */
  async empty<D extends DeviceDType>(dtype: D, dims: readonly number[]): Promise<DeviceTensor<D>> {
    for (const d of dims) {
      if (!Number.isInteger(d) || d < 0) {
        throw new QattnError('ERR_QATTN_SHAPE', `device tensor dims must be non-negative integers, got [${dims.join(', ')}]`);
      }
    }
    if (!(dtype in DTYPE_BYTES)) throw new QattnError('ERR_QATTN_DTYPE', `unknown device dtype '${String(dtype)}'`);
    const bytes = dims.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    let pointer: bigint;
    try {
      pointer = await this.binding.alloc(bytes);
    } catch (err) {
      throw deviceError(err, `cudaMalloc(${bytes} bytes)`);
    }
    return new DeviceTensor(this, pointer, dtype, [...dims]);
  }

  /** Allocates a tensor and uploads `host` into it (float16 data as Uint16Array bits). */
  async upload<D extends DeviceDType>(host: ArrayBufferView, dtype: D, dims: readonly number[]): Promise<DeviceTensor<D>> {
    const tensor = await this.empty(dtype, dims);
    if (host.byteLength !== tensor.byteLength) {
      tensor.dispose();
      throw new QattnError('ERR_QATTN_SHAPE', `upload: ${host.byteLength} bytes of host data for a [${dims.join(', ')}] ${dtype} tensor of ${tensor.byteLength} bytes`);
    }
    try {
      await this.binding.upload(tensor.pointer, host);
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
    try {
      await this.binding.download(tensor.pointer, host);
    } catch (err) {
      throw deviceError(err, 'download');
    }
  }

  /** Sets every byte of the tensor to `byteValue` (tests poison outputs this way). */
  async fill(tensor: DeviceTensor, byteValue: number): Promise<void> {
    try {
      await this.binding.memset(tensor.pointer, byteValue, tensor.byteLength);
    } catch (err) {
      throw deviceError(err, 'cudaMemsetAsync');
    }
  }

  /** @internal Used by {@link DeviceTensor.dispose}. */
  free(pointer: bigint): void {
    this.binding.free(pointer);
  }

  /**
   * Runs a kernel addon's launcher (`qattn_launch_fn`, see native/include/qattn/launch_abi.h) with its packed
   * arguments in stream order; resolves when the kernels have finished. `what` names the launch in errors.
   */
  async launch(launcher: bigint, args: Uint8Array, what: string): Promise<void> {
    try {
      await this.binding.launch(launcher, args);
    } catch (err) {
      throw deviceError(err, what);
    }
  }

  /** Times a launcher with CUDA events: `warmup` untimed launches, then one sample (ms) per repeat. */
  async time(launcher: bigint, args: Uint8Array, what: string, warmup: number, repeats: number): Promise<number[]> {
    try {
      return await this.binding.time(launcher, args, warmup, repeats);
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
    return this.binding.liveBuffers();
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
