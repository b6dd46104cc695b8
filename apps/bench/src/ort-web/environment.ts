/**
 * onnxruntime-web in Node: its WebGPU execution provider on Dawn (npm `webgpu`), on the high-performance adapter that
 * qattn's WebGPU backend also picks. Both packages are loaded on demand, by specifiers bundlers leave alone: the
 * GPU-host bundle resolves them from its node_modules at run time, and a machine without them reports the peer
 * unavailable instead of failing.
 */
import { acquireGpu, BufferUsage, type GpuContext, MapMode } from '@qattn/webgpu-runtime';
import { buildAttentionModel } from './onnx-model.js';

// The WebGPU types as webgpu-runtime's GpuContext carries them (the bench does not depend on @webgpu/types itself).
type GpuDevice = GpuContext['device'];
type GpuBuffer = ReturnType<GpuDevice['createBuffer']>;
type GpuQueue = GpuDevice['queue'];
type GpuCommandBuffer = ReturnType<ReturnType<GpuDevice['createCommandEncoder']>['finish']>;

/** The part of onnxruntime-web's API the peer uses (its `onnxruntime-web/webgpu` entry). */
export interface OrtWebModule {
  env: {
    versions: { web?: string; common: string };
    logLevel?: string;
    wasm: { numThreads?: number };
    webgpu: { readonly device: Promise<GpuDevice | undefined> };
  };
  InferenceSession: {
    create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtWebSession>;
  };
  Tensor: {
    new (type: 'int32', data: Int32Array, dims: readonly number[]): OrtWebTensor;
    fromGpuBuffer(buffer: GpuBuffer, options: { dataType: 'float32' | 'float16'; dims: readonly number[] }): OrtWebTensor;
  };
}

/** An onnxruntime-web tensor (opaque here: made by the module, handed back to it). */
export type OrtWebTensor = object;

/** An inference session: `run` with every output pre-bound (`fetches`) writes into the peer's own buffers. */
export interface OrtWebSession {
  run(feeds: Record<string, OrtWebTensor>, fetches: Record<string, OrtWebTensor>): Promise<unknown>;
  release(): Promise<void>;
}

/** A loaded onnxruntime-web and its device; {@link close} undoes what {@link openOrtWeb} changed in the process. */
export interface OrtWebEnvironment {
  ort: OrtWebModule;
  version: string;
  /** onnxruntime-web's own device, as a qattn context: the peer's buffers must live on it. */
  context: GpuContext;
  /**
   * Runs `work` and returns it with the GPU time of the command buffers submitted meanwhile: from a timestamp
   * submitted with the first of them to one submitted after `work` resolved (`gpuMs` undefined without
   * `timestamp-query` on the device). Host time before the first submission is not counted, matching qattn's
   * timestamps, which bracket GPU work only.
   */
  timeSubmissions<T>(work: () => Promise<T>): Promise<{ result: T; gpuMs?: number }>;
  /** Puts back the globals and the queue methods; the device stays, for a later {@link openOrtWeb}. */
  close(): void;
}

/** Why the peer cannot run here: no package, no adapter, or no device. */
export class OrtWebUnavailable extends Error {
  override readonly name = 'OrtWebUnavailable';
}

interface DawnModule {
  create(flags: string[]): object;
  globals: Record<string, unknown>;
}

async function importOptional<T>(specifier: string, install: string): Promise<T> {
  try {
    return (await import(/* @vite-ignore */ specifier)) as T;
  } catch (err) {
    throw new OrtWebUnavailable(`${specifier} could not be loaded (${(err as Error).message.split('\n')[0]}); ${install}`);
  }
}

/** What outlives one {@link openOrtWeb}: onnxruntime-web initializes its WebGPU backend once per process. */
interface Loaded {
  ort: OrtWebModule;
  dawn: DawnModule;
  gpu: object;
  device: GpuDevice;
  keepAlive: OrtWebSession;
}

let loaded: Promise<Loaded> | undefined;

async function load(): Promise<Loaded> {
  // Non-literal specifiers: bundlers must not inline either package (Dawn is a native addon; onnxruntime-web loads
  // its .wasm from beside its own file).
  const ortSpecifier = 'onnxruntime-web/webgpu';
  const dawnSpecifier = 'webgpu';
  const ort = await importOptional<OrtWebModule>(ortSpecifier, 'install onnxruntime-web (a devDependency of @qattn/bench)');
  const dawn = await importOptional<DawnModule>(dawnSpecifier, 'install webgpu (Dawn)');
  // Dawn destroys a `create()` instance's devices when the instance is garbage-collected: `loaded` keeps it for the
  // process, as onnxruntime-web keeps its device. Timestamp quantization off, as for qattn's own device.
  const gpu = dawn.create(['disable-dawn-features=timestamp_quantization']);
  ort.env.wasm.numThreads = 1; // no pthread workers: the work is on the GPU, and Node would start them from the bundle
  ort.env.logLevel = 'error';
  const restore = installGlobals(gpu, dawn.globals);
  try {
    // The peer runs on onnxruntime-web's default device, which it creates itself (adapter, features and limits of its
    // choosing) with its first WebGPU session: buffers bound with `Tensor.fromGpuBuffer` must live on it. (Sessions
    // on a device of the caller's get their own context, which refuses inputs registered with the default one.)
    // Creating a session compiles no shader; its device is then `env.webgpu.device`. That session stays open for the
    // process: releasing the last session of the default context destroys the device.
    const probe = buildAttentionModel({ batch: 1, heads: 1, kvHeads: 1, seqQ: 1, seqKV: 1, headDim: 4, causal: false }, 'float32');
    const keepAlive = await ort.InferenceSession.create(probe.bytes, { executionProviders: ['webgpu'], logSeverityLevel: 3 });
    const device = await ort.env.webgpu.device;
    if (!device) throw new Error('env.webgpu.device is unset after a WebGPU session');
    return { ort, dawn, gpu, device, keepAlive };
  } catch (err) {
    throw new OrtWebUnavailable(`onnxruntime-web opened no WebGPU device: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    restore();
  }
}

/**
 * Loads onnxruntime-web and Dawn (once per process) and prepares a measurement. Until
 * {@link OrtWebEnvironment.close}: `globalThis.navigator.gpu` is Dawn's GPU object and the WebGPU interface globals
 * (`GPUDevice`, …) are defined, as onnxruntime-web's WebGPU backend expects of a browser, and `GPUQueue.writeBuffer`
 * copies views of a SharedArrayBuffer first. Throws {@link OrtWebUnavailable} when something is missing.
 */
export async function openOrtWeb(): Promise<OrtWebEnvironment> {
  const attempt = (loaded ??= load());
  let state: Loaded;
  try {
    state = await attempt;
  } catch (err) {
    if (loaded === attempt) loaded = undefined;
    throw err;
  }
  const { ort, dawn, gpu, device } = state;
  const restoreGlobals = installGlobals(gpu, dawn.globals);
  // onnxruntime-web's WebAssembly memory is a SharedArrayBuffer (its threaded build), and Dawn's writeBuffer rejects
  // views of one (or crashes the process): such uploads go through a private copy. On the class, because the queue
  // object onnxruntime holds is not necessarily `device.queue`; a no-op for every other caller.
  const queueClass = Object.getPrototypeOf(device.queue) as GpuQueue;
  const { writeBuffer, submit } = queueClass;
  queueClass.writeBuffer = function unsharedWriteBuffer(this: GpuQueue, buffer: GpuBuffer, offset: number, data: ArrayBufferView | ArrayBuffer, dataOffset?: number, size?: number) {
    const unshared = ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer ? (data as Uint8Array).slice() : data;
    return writeBuffer.call(this, buffer, offset, unshared, dataOffset, size);
  };

  const context = await acquireGpu({ device });
  const timestamps = context.capabilities.timestampQuery ? device.createQuerySet({ type: 'timestamp', count: 2, label: 'onnxruntime-web peer' }) : undefined;
  const resolveBuffer = timestamps && device.createBuffer({ size: 16, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
  const readBuffer = timestamps && device.createBuffer({ size: 16, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const marker = (index: number): GpuCommandBuffer => {
    const encoder = device.createCommandEncoder({ label: 'onnxruntime-web peer timestamp' });
    encoder.beginComputePass({ timestampWrites: { querySet: timestamps!, beginningOfPassWriteIndex: index } }).end();
    if (index === 1) {
      encoder.resolveQuerySet(timestamps!, 0, 2, resolveBuffer!, 0);
      encoder.copyBufferToBuffer(resolveBuffer!, 0, readBuffer!, 0, 16);
    }
    return encoder.finish();
  };

  return {
    ort,
    version: ort.env.versions.web ?? ort.env.versions.common,
    context,
    async timeSubmissions(work) {
      if (!timestamps) return { result: await work() };
      // Nothing else submits while the peer measures: the first submission in the window is onnxruntime's.
      let armed = true;
      queueClass.submit = function markedSubmit(this: GpuQueue, buffers: Iterable<GpuCommandBuffer>) {
        const withMarker = armed ? [marker(0), ...buffers] : [...buffers];
        armed = false;
        return submit.call(this, withMarker);
      };
      let result: Awaited<ReturnType<typeof work>>;
      try {
        result = await work();
      } finally {
        queueClass.submit = submit;
      }
      if (armed) throw new Error('onnxruntime-web submitted no GPU work during run()');
      device.queue.submit([marker(1)]);
      await readBuffer!.mapAsync(MapMode.READ);
      const [start, end] = new BigInt64Array(readBuffer!.getMappedRange().slice(0));
      readBuffer!.unmap();
      return { result, gpuMs: Number(end - start) / 1e6 };
    },
    close() {
      queueClass.writeBuffer = writeBuffer;
      timestamps?.destroy();
      resolveBuffer?.destroy();
      readBuffer?.destroy();
      restoreGlobals();
    },
  };
}

/** Defines navigator.gpu and the missing WebGPU globals; returns what puts the previous state back. */
function installGlobals(gpu: object, globals: Record<string, unknown>): () => void {
  const scope = globalThis as Record<string, unknown>;
  const navigatorDescriptor = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  // A plain object: Node ≥ 21's own navigator has no `gpu`, and its getters refuse a derived receiver.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const added = Object.keys(globals).filter((name) => !(name in scope));
  for (const name of added) scope[name] = globals[name];
  return () => {
    for (const name of added) delete scope[name];
    if (navigatorDescriptor) Object.defineProperty(globalThis, 'navigator', navigatorDescriptor);
    else delete scope.navigator;
  };
}
