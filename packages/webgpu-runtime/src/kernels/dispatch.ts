import { BufferUsage } from '../constants.js';
import type { GpuContext } from '../device.js';

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * The compute pipeline for `key`, compiled once per device from `source()`: keys name everything that changes the
 * generated WGSL (op, schedule, variant), never shapes, which travel in uniforms.
 */
export function cachedPipeline(context: GpuContext, key: string, source: () => string): GPUComputePipeline {
  const { device } = context;
  let perDevice = pipelines.get(device);
  if (!perDevice) {
    perDevice = new Map();
    pipelines.set(device, perDevice);
  }
  let pipeline = perDevice.get(key);
  if (!pipeline) {
    const module = device.createShaderModule({ code: source(), label: key });
    pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    perDevice.set(key, pipeline);
  }
  return pipeline;
}

/** One 4-byte field of a WGSL uniform struct. */
export type UniformWord = { u32: number } | { i32: number } | { f32: number };

/** A uniform buffer holding `words` (in declaration order of the WGSL struct), written once. */
export function uniformBuffer(context: GpuContext, words: readonly UniformWord[], label = 'qattn params'): GPUBuffer {
  const size = Math.ceil((words.length * 4) / 16) * 16;
  const data = new ArrayBuffer(size);
  const view = new DataView(data);
  words.forEach((word, i) => {
    if ('u32' in word) view.setUint32(i * 4, word.u32, true);
    else if ('i32' in word) view.setInt32(i * 4, word.i32, true);
    else view.setFloat32(i * 4, word.f32, true);
  });
  const buffer = context.device.createBuffer({ size, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label });
  context.device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

/** A storage buffer of `bytes` (rounded up to 4), for intermediate results (codes, scales, means). */
export function storageBuffer(context: GpuContext, bytes: number, label: string): GPUBuffer {
  return context.device.createBuffer({
    size: Math.max(4, Math.ceil(bytes / 4) * 4),
    usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
    label,
  });
}

/** Encodes one compute pass: bindings 0..n of group 0 are `buffers` in order. */
export function encodeDispatch(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  pipeline: GPUComputePipeline,
  buffers: readonly GPUBuffer[],
  workgroups: readonly [number, number, number?],
  timestampWrites?: GPUComputePassTimestampWrites,
): void {
  const bindGroup = context.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const pass = encoder.beginComputePass(timestampWrites ? { timestampWrites } : {});
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2] ?? 1);
  pass.end();
}

/** Formats WGSL `const` declarations: booleans as `bool`, integers as `u32`, `{ f32 }` as `f32`. */
export function wgslConstants(values: Record<string, number | boolean | { f32: number }>): string {
  return Object.entries(values)
    .map(([name, value]) => {
      if (typeof value === 'boolean') return `const ${name}: bool = ${value};`;
      if (typeof value === 'number') return `const ${name}: u32 = ${value}u;`;
      return `const ${name}: f32 = ${wgslFloat(value.f32)};`;
    })
    .join('\n');
}

/** A WGSL f32 literal that round-trips `value` (finite). */
export function wgslFloat(value: number): string {
  const text = String(Math.fround(value));
  return /[.e]/.test(text) ? text : `${text}.0`;
}

/**
 * Emits one WGSL function per loop bound: `fn name() -> u32` returning the constant (loops the compiler may unroll) or
 * the uniform field (rolled loops) per `schedule.unrollWords`. Module-scope declarations are order-independent in
 * WGSL, so these may refer to `params` declared later in the kernel file.
 */
export function wordLoopBounds(schedule: { unrollWords: boolean }, bounds: Record<string, [constant: string, uniform: string]>): string[] {
  return Object.entries(bounds).map(([name, [constant, uniform]]) => `fn ${name}() -> u32 { return ${schedule.unrollWords ? constant : uniform}; }`);
}

/**
 * The tile constants every attention kernel file expects (attn_common.wgsl reads them): head dim and its 4-element
 * words, the padded Q/K row stride, the tile, and how rows map to threads.
 */
export function tileConstants(schedule: {
  headDim: number;
  blockM: number;
  blockN: number;
  rowsPerThread: number;
  threadsPerRow: number;
}): Record<string, number> {
  return {
    HEAD_DIM: schedule.headDim,
    QK_WORDS: schedule.headDim / 4,
    QK_STRIDE: schedule.headDim / 4 + 1,
    BLOCK_M: schedule.blockM,
    BLOCK_N: schedule.blockN,
    ROWS_PER_THREAD: schedule.rowsPerThread,
    THREADS_PER_ROW: schedule.threadsPerRow,
  };
}
