import { BufferUsage, MapMode } from './constants.js';
import type { GpuContext } from './device.js';

/**
 * GPU timestamps for benchmarks (feature `timestamp-query`): compute passes write numbered timestamps through
 * {@link passWrites}, {@link resolve} copies them into a readable buffer in the same command encoder, and {@link read}
 * returns them in nanoseconds. Durations between timestamps of one submission exclude host and submission overhead.
 */
export class GpuTimestamps {
  readonly #querySet: GPUQuerySet;
  readonly #resolveBuffer: GPUBuffer;
  readonly #readBuffer: GPUBuffer;

  constructor(
    private readonly context: GpuContext,
    readonly capacity: number,
  ) {
    const { device } = context;
    this.#querySet = device.createQuerySet({ type: 'timestamp', count: capacity, label: 'qattn timestamps' });
    this.#resolveBuffer = device.createBuffer({ size: capacity * 8, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
    this.#readBuffer = device.createBuffer({ size: capacity * 8, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  }

  /** Timestamp writes for one compute pass: at its beginning and/or end, into the given slots. */
  passWrites(beginning?: number, end?: number): GPUComputePassTimestampWrites {
    return {
      querySet: this.#querySet,
      ...(beginning === undefined ? {} : { beginningOfPassWriteIndex: beginning }),
      ...(end === undefined ? {} : { endOfPassWriteIndex: end }),
    };
  }

  /** Encodes the copy of every slot into the readable buffer (call last in the encoder). */
  resolve(encoder: GPUCommandEncoder): void {
    encoder.resolveQuerySet(this.#querySet, 0, this.capacity, this.#resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.#resolveBuffer, 0, this.#readBuffer, 0, this.capacity * 8);
  }

  /** The timestamps in nanoseconds (after the submission that resolved them). */
  async read(): Promise<number[]> {
    await this.#readBuffer.mapAsync(MapMode.READ);
    const ticks = new BigInt64Array(this.#readBuffer.getMappedRange().slice(0));
    this.#readBuffer.unmap();
    return Array.from(ticks, (t) => Number(t));
  }

  destroy(): void {
    this.#querySet.destroy();
    this.#resolveBuffer.destroy();
    this.#readBuffer.destroy();
  }

  /** Whether the device can record timestamps (else benchmarks fall back to host timers). */
  static supported(context: GpuContext): boolean {
    return context.capabilities.timestampQuery;
  }
}
