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

/** A host ↔ device copy of one {@link Binding.submit} job: `host.byteLength` bytes at `pointer`. */
export interface NativeTransfer {
  pointer: bigint;
  host: ArrayBufferView;
}

/** One launcher call of a {@link Binding.submit} job. */
export interface NativeLaunch {
  launcher: bigint;
  args: Uint8Array;
}

/** The steps of one {@link Binding.submit} job, run as uploads, then launches, then downloads. */
export interface NativeSubmitJob {
  uploads: readonly NativeTransfer[];
  launches: readonly NativeLaunch[];
  downloads: readonly NativeTransfer[];
}

/**
 * The records of traced jobs (native/job_trace.h): one row of `stages.length` durations in microseconds per job, NaN
 * where the job did not reach a stage. `summarizeTrace` (src/trace.ts) turns them into medians.
 */
export interface NativeTrace {
  /** Stage names, the columns of `values`. */
  stages: readonly string[];
  /** Distinct job labels; `label[i]` indexes them. */
  labels: readonly string[];
  label: Uint32Array;
  values: Float64Array;
  /** Records not kept because the addon's buffer was full. */
  dropped: number;
}

/**
 * Launchers of the runtime addon itself (`qattn_launch_fn`s without kernels). Their args are `QattnBuiltinArgs`
 * (32 bytes, little-endian: u64 dst, u64 src, u64 bytes, i32 value, 4 bytes padding); see `CudaRuntime.fillStep`.
 */
export interface NativeBuiltinLaunchers {
  /** cudaMemsetAsync(dst, value, bytes). */
  readonly fill: bigint;
  /** cudaMemcpyAsync(dst, src, bytes, device to device). */
  readonly copy: bigint;
  /** Always fails at enqueue time with a real CUDA error (an invalid copy direction): tests of the error path. */
  readonly fail: bigint;
}

/**
 * The native addon `qattn_cuda_runtime.node` (native/runtime_addon.cc), the typed boundary of the runtime.
 *
 * Queue model: one FIFO queue thread owns the stream and enqueues each job's work without waiting; a completion thread
 * waits on the event recorded after each job, in order, and settles the job's promise on the main thread. Promises
 * therefore settle in submission order, and resolving means the job's work has finished on the device (an
 * asynchronous kernel fault rejects the job whose event reports it). Host arrays passed in are referenced until their
 * job settles. Small copies go through pinned staging buffers (the host array is read when the job is enqueued and
 * written when its event completes); copies above the staging limit use pageable cudaMemcpyAsync on the queue thread.
 *
 * `alloc` is the exception to the queue: once the stream exists, it calls cudaMallocFromPoolAsync on the calling
 * thread and returns a settled promise (stream-ordered allocation needs no wait). Rejections are plain Errors with a
 * `cudaStatus` number; {@link CudaRuntime} turns them into `QattnError`s.
 *
 * The `label` of `launch`, `submit` and `time` names the job in the stage trace (`QATTN_CUDA_TRACE=1`), nowhere else.
 */
export interface Binding {
  /** Version of the launcher ABI (native/include/qattn/launch_abi.h) that kernel addons must match. */
  readonly abiVersion: number;
  readonly builtinLaunchers: NativeBuiltinLaunchers;
  probe(): NativeProbe;
  /** Stream-ordered allocation; usable by every job submitted after it. */
  alloc(bytes: number): Promise<bigint>;
  /** Returns false when `pointer` is not a live allocation (already freed). The free runs after earlier jobs. */
  free(pointer: bigint): boolean;
  upload(pointer: bigint, host: ArrayBufferView): Promise<void>;
  download(pointer: bigint, host: ArrayBufferView): Promise<void>;
  memset(pointer: bigint, byteValue: number, bytes: number): Promise<void>;
  /** Calls a `qattn_launch_fn` of a kernel addon with the packed `args` on the stream; resolves once it finished. */
  launch(launcher: bigint, args: Uint8Array, label?: string): Promise<void>;
  /**
   * One job: every upload, then every launch, then every download, one event, one promise. Rejects with the failing
   * step named ("upload 2 of 3: …"); later steps are skipped.
   */
  submit(job: NativeSubmitJob, label?: string): Promise<void>;
  /** Runs the launcher `warmup` times, then `repeats` times between CUDA events; resolves to each repeat's ms. */
  time(launcher: bigint, args: Uint8Array, warmup: number, repeats: number, label?: string): Promise<number[]>;
  /** Resolves once everything submitted before has finished. */
  synchronize(): Promise<void>;
  /** After everything submitted before: trims the memory pool to its live allocations and frees idle pinned staging. */
  trimCaches(): Promise<void>;
  memInfo(): Promise<{ free: number; total: number }>;
  liveBuffers(): number;
  /** Whether jobs submitted now are traced: `QATTN_CUDA_TRACE=1` when the addon loaded, then `setTrace`. */
  tracing?(): boolean;
  /** Traces the jobs submitted from now on (or stops); zero cost while off. Absent in addons built before the trace. */
  setTrace?(enabled: boolean): void;
  /** The records of the traced jobs settled since the last call, which it forgets. */
  traceTake?(): NativeTrace;
}
