import { Float16Array } from '@petamoriken/float16';
import { QattnError } from '@qattn/quant-core';
import { BufferUsage, MapMode } from './constants.js';
import { assertAlive, type GpuContext } from './device.js';
import { withDeviceErrors } from './error-scope.js';

/** Element types a {@link WebGpuTensor} holds. */
export type GpuDType = 'float32' | 'float16';

const BYTES_PER_ELEMENT: Record<GpuDType, number> = { float32: 4, float16: 2 };

/** Buffer sizes must be multiples of 4 bytes for copies and mapping. */
function alignedSize(bytes: number): number {
  return Math.max(4, Math.ceil(bytes / 4) * 4);
}

/**
 * A row-major tensor that lives in a GPU buffer (onnxruntime-web's `location: 'gpu-buffer'`, here `'webgpu'`), so
 * consecutive kernels pass data without host round trips. `dispose()` frees the buffer (idempotent); using a disposed
 * tensor throws `ERR_QATTN_DISPOSED`. A tensor that wraps a caller's buffer never destroys it.
 */
export class WebGpuTensor {
  readonly location = 'webgpu' as const;
  readonly dims: readonly number[];
  readonly size: number;
  #buffer: GPUBuffer | undefined;
  readonly #ownsBuffer: boolean;

  private constructor(
    readonly context: GpuContext,
    buffer: GPUBuffer,
    dims: readonly number[],
    readonly dtype: GpuDType,
    ownsBuffer: boolean,
  ) {
    this.dims = Object.freeze([...dims]);
    this.size = dims.reduce((a, b) => a * b, 1);
    this.#buffer = buffer;
    this.#ownsBuffer = ownsBuffer;
  }

  /** Uploads `data` into a new device buffer, as float32 or rounded to nearest float16. */
  static fromArray(context: GpuContext, data: Float32Array, dims: readonly number[], dtype: GpuDType = 'float32'): WebGpuTensor {
    assertAlive(context, 'WebGpuTensor.fromArray');
    checkDims(dims, data.length);
    const source = dtype === 'float32' ? data : new Float16Array(data);
    const buffer = context.device.createBuffer({
      size: alignedSize(source.byteLength),
      usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
      label: 'qattn tensor',
    });
    // writeBuffer needs a multiple of 4 bytes: an odd float16 count is padded with one zero element.
    const padded = new Uint8Array(alignedSize(source.byteLength));
    padded.set(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
    context.device.queue.writeBuffer(buffer, 0, padded);
    return new WebGpuTensor(context, buffer, dims, dtype, true);
  }

  /** Allocates an uninitialized tensor (kernels write it). */
  static empty(context: GpuContext, dims: readonly number[], dtype: GpuDType = 'float32'): WebGpuTensor {
    assertAlive(context, 'WebGpuTensor.empty');
    const size = checkDims(dims);
    const buffer = context.device.createBuffer({
      size: alignedSize(size * BYTES_PER_ELEMENT[dtype]),
      usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
      label: 'qattn tensor',
    });
    return new WebGpuTensor(context, buffer, dims, dtype, true);
  }

  /**
   * Wraps a caller's storage buffer (usage must include STORAGE; COPY_SRC to read it back). `dispose()` then only
   * detaches the wrapper: the caller keeps ownership of the buffer.
   */
  static fromBuffer(context: GpuContext, buffer: GPUBuffer, dims: readonly number[], dtype: GpuDType = 'float32'): WebGpuTensor {
    const size = checkDims(dims);
    if (buffer.size < size * BYTES_PER_ELEMENT[dtype]) {
      throw new QattnError('ERR_QATTN_SHAPE', `WebGpuTensor.fromBuffer: buffer has ${buffer.size} bytes but [${dims.join(', ')}] ${dtype} needs ${size * BYTES_PER_ELEMENT[dtype]}`);
    }
    if ((buffer.usage & BufferUsage.STORAGE) === 0) {
      throw new QattnError('ERR_QATTN_OPTION', 'WebGpuTensor.fromBuffer: the buffer needs GPUBufferUsage.STORAGE');
    }
    return new WebGpuTensor(context, buffer, dims, dtype, false);
  }

  /** The underlying buffer. Throws `ERR_QATTN_DISPOSED` after {@link dispose}. */
  get buffer(): GPUBuffer {
    if (!this.#buffer) throw new QattnError('ERR_QATTN_DISPOSED', 'WebGpuTensor used after dispose()');
    return this.#buffer;
  }

  get disposed(): boolean {
    return this.#buffer === undefined;
  }

  /** Frees the device buffer (when this tensor owns it). Calling it again does nothing. */
  dispose(): void {
    if (this.#buffer && this.#ownsBuffer) this.#buffer.destroy();
    this.#buffer = undefined;
  }

  /** Copies the tensor to the host as float32 (float16 tensors are widened exactly). */
  async toArray(): Promise<Float32Array> {
    const buffer = this.buffer;
    const byteLength = this.size * BYTES_PER_ELEMENT[this.dtype];
    const bytes = await readBuffer(this.context, buffer, byteLength);
    if (this.dtype === 'float32') return new Float32Array(bytes, 0, this.size);
    return Float32Array.from(new Float16Array(bytes, 0, this.size));
  }
}

function checkDims(dims: readonly number[], length?: number): number {
  if (!Array.isArray(dims) || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new QattnError('ERR_QATTN_SHAPE', `tensor dims must be positive integers, got [${String(dims)}]`);
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (length !== undefined && size !== length) {
    throw new QattnError('ERR_QATTN_SHAPE', `tensor data has ${length} elements but dims [${dims.join(', ')}] need ${size}`);
  }
  return size;
}

/** Reads `byteLength` bytes of `buffer` (usage COPY_SRC) back to the host through a staging buffer. */
export async function readBuffer(context: GpuContext, buffer: GPUBuffer, byteLength: number): Promise<ArrayBuffer> {
  const { device } = context;
  const size = alignedSize(byteLength);
  return withDeviceErrors(context, 'readBuffer', async () => {
    const staging = device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'qattn readback' });
    try {
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MapMode.READ);
      return staging.getMappedRange().slice(0, byteLength);
    } finally {
      staging.destroy();
    }
  });
}
