import { QattnError } from '@qattn/quant-core';
import type { CudaRuntime } from './runtime.js';

/** Element types of device tensors and the typed arrays they download into. */
export type DeviceDType = 'float32' | 'float16' | 'int8' | 'uint8' | 'int32';

/** Bytes per element of each {@link DeviceDType}. */
export const DTYPE_BYTES: Readonly<Record<DeviceDType, number>> = { float32: 4, float16: 2, int8: 1, uint8: 1, int32: 4 };

/** The typed array a dtype downloads into (float16 as raw Uint16 bits). */
export type HostArrayOf<D extends DeviceDType> = D extends 'float32'
  ? Float32Array
  : D extends 'float16'
    ? Uint16Array
    : D extends 'int8'
      ? Int8Array
      : D extends 'uint8'
        ? Uint8Array
        : Int32Array;

const HOST_ARRAY: Record<DeviceDType, new (length: number) => ArrayBufferView> = {
  float32: Float32Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int32: Int32Array,
};

/**
 * A dense row-major tensor in device memory, owned by a {@link CudaRuntime}. `dispose()` frees it (idempotent); any
 * later use throws `ERR_QATTN_DISPOSED`. Kernel packages read {@link DeviceTensor.pointer} to pass it to their addon.
 */
export class DeviceTensor<D extends DeviceDType = DeviceDType> {
  /** Where the data lives (onnxruntime-web's `Tensor.location` convention). */
  readonly location = 'cuda' as const;
  readonly elements: number;
  readonly byteLength: number;
  #pointer: bigint | null;

  /** @internal Created by {@link CudaRuntime.empty} / {@link CudaRuntime.upload}. */
  constructor(
    private readonly runtime: CudaRuntime,
    pointer: bigint,
    readonly dtype: D,
    readonly dims: readonly number[],
  ) {
    this.#pointer = pointer;
    this.elements = dims.reduce((a, b) => a * b, 1);
    this.byteLength = this.elements * DTYPE_BYTES[dtype];
  }

  /** True once `dispose()` has run. */
  get disposed(): boolean {
    return this.#pointer === null;
  }

  /** Raw device address, for kernel addons. Throws `ERR_QATTN_DISPOSED` after `dispose()`. */
  get pointer(): bigint {
    if (this.#pointer === null) {
      throw new QattnError('ERR_QATTN_DISPOSED', `device tensor [${this.dims.join(', ')}] ${this.dtype} was used after dispose()`);
    }
    return this.#pointer;
  }

  /** Copies the tensor to a new typed array (stream-ordered after everything submitted before). */
  async download(): Promise<HostArrayOf<D>> {
    const host = new HOST_ARRAY[this.dtype](this.elements) as HostArrayOf<D>;
    await this.runtime.download(this, host);
    return host;
  }

  /** Frees the device memory in stream order. Safe to call more than once. */
  dispose(): void {
    if (this.#pointer === null) return;
    const pointer = this.#pointer;
    this.#pointer = null;
    // The size as allocated (runtime.empty allocates exactly byteLength), so the runtime may recycle the block.
    this.runtime.free(pointer, this.byteLength);
  }
}
