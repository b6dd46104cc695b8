/**
 * A plain f32/f16 WGSL decode step (split-KV over key chunks, a combine pass, GQA rows packed per workgroup, online
 * softmax, f32 accumulation) over K/V held as ordinary dense tensors: the yardstick the decode-cache preset puts next
 * to turboDecode over the quantized WebGPU cache on the same adapter. Written for the bench, not a product kernel: it
 * is what a competent user would write for "decode attention in WGSL" without quantization.
 */
import { QattnError } from '@qattn/quant-core';
import { BufferUsage, cachedPipeline, type GpuContext, MapMode, timePhases, type UniformWord, uniformBuffer, WebGpuTensor, withDeviceErrors } from '@qattn/webgpu-runtime';
import { wgslDecodeCombineSource } from './decode_combine.wgsl.js';
import { wgslDecodeKernelKey, wgslDecodeSplitSource } from './decode_split.wgsl.js';
import { chooseWgslDecodeSchedule, type WgslDecodeDType, type WgslDecodeSchedule } from './schedule.js';

/** The shape of a decode step: q `[batch, heads, seqQ, headDim]`, K/V `[batch, kvHeads, seqKV, headDim]`. */
export interface WgslDecodeShape {
  batch: number;
  heads: number;
  kvHeads: number;
  /** New tokens per sequence, causal among themselves (bottom-right aligned); 1 for plain decode. */
  seqQ: number;
  seqKV: number;
  headDim: number;
}

/** Options of {@link WgslDecode.create}. */
export interface WgslDecodeOptions {
  /** Softmax scale. Default 1/√headDim. */
  scale?: number;
  /** Keys per split instead of the schedule's (tests of the single- and multi-split paths). */
  keysPerSplit?: number;
  /** Schedule as for a software adapter or a GPU instead of by the adapter (`GpuContext.software`): experiments. */
  profile?: 'software' | 'hardware';
}

// The WebGPU types as webgpu-runtime's GpuContext carries them (the bench does not depend on @webgpu/types itself).
type GpuDevice = GpuContext['device'];
type GpuBuffer = ReturnType<GpuDevice['createBuffer']>;
type ComputePass = ReturnType<ReturnType<GpuDevice['createCommandEncoder']>['beginComputePass']>;
type ComputePipeline = ReturnType<typeof cachedPipeline>;
type BindGroup = ReturnType<GpuDevice['createBindGroup']>;

const OPERATION = 'wgsl decode baseline';
const BYTES: Record<WgslDecodeDType, number> = { float32: 4, float16: 2 };
/** Elements uploaded per chunk: bounds the host staging of a K/V upload (f16 is rounded on the host, chunk by chunk). */
const UPLOAD_CHUNK_ELEMENTS = 1 << 22;

const aligned = (bytes: number) => Math.max(4, Math.ceil(bytes / 4) * 4);

function checkShape(shape: WgslDecodeShape): void {
  for (const [name, value] of Object.entries(shape)) {
    if (!Number.isInteger(value) || value < 1) throw new QattnError('ERR_QATTN_SHAPE', `${OPERATION}: ${name} must be a positive integer, got ${String(value)}`, { dimension: name });
  }
  if (shape.heads % shape.kvHeads !== 0) throw new QattnError('ERR_QATTN_SHAPE', `${OPERATION}: heads (${shape.heads}) must be a multiple of kvHeads (${shape.kvHeads})`, { dimension: 'heads' });
  if (shape.seqQ > shape.seqKV) throw new QattnError('ERR_QATTN_SHAPE', `${OPERATION}: seqQ (${shape.seqQ}) above seqKV (${shape.seqKV})`, { dimension: 'seqQ' });
}

function checkLength(name: string, data: Float32Array, elements: number, dims: string): void {
  if (!(data instanceof Float32Array) || data.length !== elements) {
    throw new QattnError('ERR_QATTN_SHAPE', `${OPERATION}: ${name} must be a Float32Array of ${dims} = ${elements} elements, got ${data?.length}`, { tensor: name });
  }
}

/** Uploads a float32 host tensor as `dtype` in chunks (f16: rounded to nearest by webgpu-runtime's WebGpuTensor). */
function upload(context: GpuContext, data: Float32Array, dtype: WgslDecodeDType, label: string): GpuBuffer {
  const { device } = context;
  const buffer = device.createBuffer({ size: aligned(data.length * BYTES[dtype]), usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC, label });
  for (let from = 0; from < data.length; from += UPLOAD_CHUNK_ELEMENTS) {
    const chunk = data.subarray(from, Math.min(data.length, from + UPLOAD_CHUNK_ELEMENTS));
    if (dtype === 'float32') {
      device.queue.writeBuffer(buffer, from * 4, chunk as Float32Array<ArrayBuffer>);
      continue;
    }
    const staged = WebGpuTensor.fromArray(context, chunk, [chunk.length], 'float16');
    const encoder = device.createCommandEncoder({ label: `${label} upload` });
    encoder.copyBufferToBuffer(staged.buffer, 0, buffer, from * 2, aligned(chunk.length * 2));
    device.queue.submit([encoder.finish()]);
    staged.dispose(); // destroyed once the submitted copy has run
  }
  return buffer;
}

/** One decode configuration on one device, K/V uploaded once: run it on typed q, or time it with GPU timestamps. */
export class WgslDecode {
  readonly #context: GpuContext;
  readonly #buffers: GpuBuffer[];
  readonly #q: GpuBuffer;
  readonly #out: GpuBuffer;
  readonly #readback: GpuBuffer;
  readonly #encode: (pass: ComputePass) => void;
  #disposed = false;

  private constructor(
    context: GpuContext,
    readonly shape: WgslDecodeShape,
    readonly dtype: WgslDecodeDType,
    readonly schedule: WgslDecodeSchedule,
    k: Float32Array,
    v: Float32Array,
    scale: number,
  ) {
    this.#context = context;
    const { device } = context;
    const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
    const rowsTotal = (heads / kvHeads) * seqQ;
    const outBytes = batch * heads * seqQ * headDim * 4;
    const storage = (bytes: number, label: string) => device.createBuffer({ size: aligned(bytes), usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, label });
    const kBuffer = upload(context, k, dtype, 'wgsl decode k');
    const vBuffer = upload(context, v, dtype, 'wgsl decode v');
    this.#q = storage(outBytes, 'wgsl decode q');
    this.#out = storage(outBytes, 'wgsl decode out');
    this.#readback = device.createBuffer({ size: aligned(outBytes), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'wgsl decode readback' });
    const { splits } = schedule;
    // One split writes its normalised rows straight to out; more write partial states for the combine pass.
    const partAcc = splits > 1 ? storage(batch * kvHeads * splits * rowsTotal * headDim * 4, 'wgsl decode partial acc') : this.#out;
    const partMl = storage(splits > 1 ? batch * kvHeads * splits * rowsTotal * 8 : 8, 'wgsl decode partial max/sum');
    // Params of decode_split.wgsl.ts in declaration order; zero keeps rolled loops rolled.
    const words: UniformWord[] = [batch, kvHeads, rowsTotal, seqQ, seqKV, schedule.keysPerSplit, splits, 0].map((u32) => ({ u32 }));
    const params = uniformBuffer(context, [...words, { f32: scale * Math.LOG2E }], 'wgsl decode params');
    this.#buffers = [kBuffer, vBuffer, this.#q, this.#out, this.#readback, partMl, params, ...(splits > 1 ? [partAcc] : [])];

    const config = { dtype, headDim, schedule };
    const split = cachedPipeline(context, `bench/wgsl_decode_split:${wgslDecodeKernelKey(config)}`, () => wgslDecodeSplitSource(config));
    const splitGroup = device.createBindGroup({
      layout: split.getBindGroupLayout(0),
      entries: [params, this.#q, kBuffer, vBuffer, partAcc, partMl].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    let combine: { pipeline: ComputePipeline; group: BindGroup } | undefined;
    if (splits > 1) {
      const pipeline = cachedPipeline(context, `bench/wgsl_decode_combine:d${headDim}`, () => wgslDecodeCombineSource(headDim));
      const group = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [params, partAcc, partMl, this.#out].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      combine = { pipeline, group };
    }
    this.#encode = (pass) => {
      pass.setPipeline(split);
      pass.setBindGroup(0, splitGroup);
      pass.dispatchWorkgroups(splits, kvHeads * schedule.rowTiles, batch);
      if (combine) {
        // WebGPU orders the storage writes of one dispatch before the next in the same pass.
        pass.setPipeline(combine.pipeline);
        pass.setBindGroup(0, combine.group);
        pass.dispatchWorkgroups(rowsTotal, kvHeads, batch);
      }
    };
  }

  /**
   * Uploads K/V `[batch, kvHeads, seqKV, headDim]` (float32 on the host) as `dtype` and compiles the passes.
   * `ERR_QATTN_UNSUPPORTED`: float16 without `shader-f16`, a tensor above the device's binding limit, a shape the
   * schedule cannot tile; `ERR_QATTN_SHAPE` for a bad shape or array length.
   */
  static async create(context: GpuContext, shape: WgslDecodeShape, dtype: WgslDecodeDType, k: Float32Array, v: Float32Array, options: WgslDecodeOptions = {}): Promise<WgslDecode> {
    checkShape(shape);
    const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
    const kvElements = batch * kvHeads * seqKV * headDim;
    checkLength('k', k, kvElements, '[batch, kvHeads, seqKV, headDim]');
    checkLength('v', v, kvElements, '[batch, kvHeads, seqKV, headDim]');
    if (dtype !== 'float32' && dtype !== 'float16') throw new QattnError('ERR_QATTN_DTYPE', `${OPERATION}: dtype must be 'float32' or 'float16', got ${String(dtype)}`);
    if (dtype === 'float16' && !context.capabilities.shaderF16) throw new QattnError('ERR_QATTN_UNSUPPORTED', `${OPERATION}: float16 K/V need shader-f16, which this adapter lacks`);
    const scale = options.scale ?? 1 / Math.sqrt(headDim);
    if (!(scale > 0 && Number.isFinite(scale))) throw new QattnError('ERR_QATTN_OPTION', `${OPERATION}: scale must be a positive finite number, got ${scale}`, { option: 'scale' });
    const { limits } = context;
    const threads = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 4;
    const schedule = chooseWgslDecodeSchedule(
      { dtype, batch, kvHeads, rowsTotal: (heads / kvHeads) * seqQ, seqKV, headDim },
      {
        workgroupStorage: limits.maxComputeWorkgroupStorageSize,
        maxWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
        software: options.profile === undefined ? context.software : options.profile === 'software',
        threads,
      },
      options.keysPerSplit,
    );
    const largest = Math.max(kvElements * BYTES[dtype], schedule.splits > 1 ? batch * heads * seqQ * schedule.splits * headDim * 4 : 0);
    const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    if (largest > limit) {
      throw new QattnError('ERR_QATTN_UNSUPPORTED', `${OPERATION}: a ${largest}-byte tensor is above the device's ${limit}-byte binding limit`, { bytes: largest, limit });
    }
    let made: WgslDecode | undefined;
    try {
      await withDeviceErrors(context, `${OPERATION} setup`, () => {
        made = new WgslDecode(context, shape, dtype, schedule, k, v, scale);
      });
    } catch (err) {
      made?.dispose();
      throw err;
    }
    return made!;
  }

  /** Bytes one step reads from K and V: 2 · batch · kvHeads · seqKV · headDim · (4 or 2). q and the output not counted. */
  get kvBytes(): number {
    const { batch, kvHeads, seqKV, headDim } = this.shape;
    return 2 * batch * kvHeads * seqKV * headDim * BYTES[this.dtype];
  }

  #check(q: Float32Array): void {
    if (this.#disposed) throw new QattnError('ERR_QATTN_DISPOSED', `${OPERATION}: used after dispose()`);
    const { batch, heads, seqQ, headDim } = this.shape;
    checkLength('q', q, batch * heads * seqQ * headDim, '[batch, heads, seqQ, headDim]');
    this.#context.device.queue.writeBuffer(this.#q, 0, q as Float32Array<ArrayBuffer>);
  }

  /** One decode step on `q` `[batch, heads, seqQ, headDim]`; resolves to the output, same shape, float32. */
  async run(q: Float32Array): Promise<Float32Array> {
    return withDeviceErrors(this.#context, OPERATION, async () => {
      this.#check(q);
      const { device } = this.#context;
      const encoder = device.createCommandEncoder({ label: OPERATION });
      const pass = encoder.beginComputePass();
      this.#encode(pass);
      pass.end();
      encoder.copyBufferToBuffer(this.#out, 0, this.#readback, 0, this.#readback.size);
      device.queue.submit([encoder.finish()]);
      await this.#readback.mapAsync(MapMode.READ);
      const out = new Float32Array(this.#readback.getMappedRange().slice(0), 0, q.length);
      this.#readback.unmap();
      return out;
    });
  }

  /**
   * Device time of decode steps, as turboDecode's WebGPU `time()` measures it (webgpu-runtime's `timePhases`: one
   * submission per step between two GPU timestamps, q already on the device). Samples in milliseconds; the timer is
   * `'host'` (submit → done) on an adapter without timestamp queries.
   */
  async time(q: Float32Array, settings: { warmup: number; repeats: number }): Promise<{ timer: 'timestamp-query' | 'host'; samplesMs: number[] }> {
    return withDeviceErrors(this.#context, `${OPERATION} timing`, async () => {
      this.#check(q);
      const { timer, totals } = await timePhases(this.#context, 2, settings, (encoder, mark) => {
        mark(0);
        const pass = encoder.beginComputePass();
        this.#encode(pass);
        pass.end();
        mark(1);
      });
      return { timer, samplesMs: totals };
    });
  }

  /** Frees every buffer (idempotent). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const buffer of this.#buffers) buffer.destroy();
  }
}
