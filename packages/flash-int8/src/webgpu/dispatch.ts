import { BufferUsage, type GpuContext } from '@qattn/webgpu-runtime';

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * The compute pipeline for `key`, compiled once per device from `source()`: keys name everything that changes the
 * generated WGSL (op, schedule, variant flags), never shapes, which travel in uniforms.
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

/** A uniform buffer holding `words` (u32 / i32 / f32 values, in declaration order of the WGSL struct). */
export function uniformBuffer(context: GpuContext, words: ReadonlyArray<{ u32: number } | { i32: number } | { f32: number }>): GPUBuffer {
  const size = Math.ceil((words.length * 4) / 16) * 16;
  const data = new ArrayBuffer(size);
  const view = new DataView(data);
  words.forEach((word, i) => {
    if ('u32' in word) view.setUint32(i * 4, word.u32, true);
    else if ('i32' in word) view.setInt32(i * 4, word.i32, true);
    else view.setFloat32(i * 4, word.f32, true);
  });
  const buffer = context.device.createBuffer({ size, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'qattn params' });
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

/** Formats WGSL `const` declarations for the constants a kernel file expects to be injected. */
export function wgslConstants(values: Record<string, number | boolean>): string {
  return Object.entries(values)
    .map(([name, value]) => (typeof value === 'boolean' ? `const ${name}: bool = ${value};` : `const ${name}: u32 = ${value}u;`))
    .join('\n');
}

/**
 * Emits one WGSL function per loop bound: `fn name() -> u32` returning the constant (loops the compiler may unroll) or
 * the uniform field (rolled loops) per `schedule.unrollWords`. Module-scope declarations are order-independent in
 * WGSL, so these may refer to `params` declared later in the kernel file.
 */
export function wordLoopBounds(schedule: { unrollWords: boolean }, bounds: Record<string, [constant: string, uniform: string]>): string[] {
  return Object.entries(bounds).map(([name, [constant, uniform]]) => `fn ${name}() -> u32 { return ${schedule.unrollWords ? constant : uniform}; }`);
}
