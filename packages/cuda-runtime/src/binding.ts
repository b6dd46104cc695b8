import { QattnError } from '@qattn/quant-core';

/** What `probe()` of the addon reports; never throws for a missing driver or device. */
export interface NativeProbe {
  runtimeVersion: number;
  driverVersion: number;
  deviceCount: number;
  /** cudaError_t of the failed probe call. */
  cudaStatus?: number;
  error?: string;
  name?: string;
  major?: number;
  minor?: number;
  multiProcessorCount?: number;
  totalGlobalMem?: number;
  sharedMemPerBlockOptin?: number;
  l2CacheSize?: number;
}

/**
 * The native addon `qattn_cuda_runtime.node` (native/runtime_addon.cc). Every method that touches the device returns
 * a promise settled by the addon's queue thread, in submission order (one CUDA stream). Rejections are plain Errors
 * with a `cudaStatus` number; {@link CudaRuntime} turns them into `QattnError`s.
 */
export interface Binding {
  /** Version of the launcher ABI (native/include/qattn/launch_abi.h) that kernel addons must match. */
  readonly abiVersion: number;
  probe(): NativeProbe;
  alloc(bytes: number): Promise<bigint>;
  /** Returns false when `pointer` is not a live allocation (already freed). */
  free(pointer: bigint): boolean;
  upload(pointer: bigint, host: ArrayBufferView): Promise<void>;
  download(pointer: bigint, host: ArrayBufferView): Promise<void>;
  memset(pointer: bigint, byteValue: number, bytes: number): Promise<void>;
  /** Calls a `qattn_launch_fn` of a kernel addon with the packed `args` on the runtime's stream, then waits for it. */
  launch(launcher: bigint, args: Uint8Array): Promise<void>;
  /** Runs the launcher `warmup` times, then `repeats` times between CUDA events; resolves to each repeat's ms. */
  time(launcher: bigint, args: Uint8Array, warmup: number, repeats: number): Promise<number[]>;
  synchronize(): Promise<void>;
  memInfo(): Promise<{ free: number; total: number }>;
  liveBuffers(): number;
}
