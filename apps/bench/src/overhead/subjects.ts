/**
 * The real {@link OverheadSubject}s: one per (kernel algorithm, GPU backend), built on the packages' public entries —
 * `flashInt8AttentionDevice` / `turboAttentionDevice` with tensors from `getCudaRuntime()` on cuda,
 * `flashInt8AttentionWebGpu` / `turboAttentionWebGpu` with `WebGpuTensor`s on webgpu (where the package has one), the
 * typed-array entries, and the benchmark hooks for the kernel time.
 */
import { type Algorithm, BenchError, type InputTensors, KERNEL_ALGORITHMS } from '../algorithms.js';
import type { CellShape } from '../metrics.js';
import type { ApiCudaRuntime, ApiDeviceTensor, DeviceAttentionFn, GpuBackendName, KernelPackage, RuntimePackages } from '../packages.js';
import { garbageCollector } from './gc.js';
import type { OverheadSubject, PreparedCall } from './run.js';
import type { MemorySnapshot } from './stats.js';
import { openTraceWindow, type TraceWindow } from './trace.js';

const qDims = (s: CellShape) => [s.batch, s.heads, s.seqQ, s.headDim];
const kvDims = (s: CellShape) => [s.batch, s.kvHeads, s.seqKV, s.headDim];
const apiShape = (s: CellShape) => ({ batch: s.batch, heads: s.heads, kvHeads: s.kvHeads, seqQ: s.seqQ, seqKV: s.seqKV, headDim: s.headDim });

function disposeAll(tensors: Array<ApiDeviceTensor | undefined>): void {
  for (const tensor of tensors) tensor?.dispose();
}

/** Runtime-specific parts of a subject: uploading inputs, waiting for the device, reading memory, releasing caches. */
interface DeviceSide {
  upload(inputs: InputTensors, shape: CellShape): Promise<ApiDeviceTensor[]>;
  /** Waits for the work behind an entry's output (the CUDA entries resolve on completion already). */
  settle(out: ApiDeviceTensor): Promise<void>;
  memory(): Promise<Omit<MemorySnapshot, 'rssBytes'>>;
  releaseCaches(): Promise<string | undefined>;
  /** The runtime's stage trace, where it has one and traces (the CUDA runtime under QATTN_CUDA_TRACE=1). */
  traceWindow?(): TraceWindow | undefined;
}

function cudaSide(runtimes: RuntimePackages): DeviceSide {
  let runtime: ApiCudaRuntime | undefined;
  const rt = (): ApiCudaRuntime => {
    if (!runtimes.cuda) throw new BenchError('ERR_QATTN_BACKEND_UNAVAILABLE', runtimes.cudaError ?? '@qattn/cuda-runtime is not loaded');
    return (runtime ??= runtimes.cuda.getRuntime());
  };
  return {
    async upload(inputs, shape) {
      const tensors: ApiDeviceTensor[] = [];
      try {
        tensors.push(await rt().upload(inputs.q, 'float32', qDims(shape)));
        tensors.push(await rt().upload(inputs.k, 'float32', kvDims(shape)));
        tensors.push(await rt().upload(inputs.v, 'float32', kvDims(shape)));
      } catch (err) {
        disposeAll(tensors);
        throw err;
      }
      return tensors;
    },
    async settle() {},
    async memory() {
      await rt().synchronize();
      return { liveBuffers: rt().liveBuffers(), deviceFreeBytes: (await rt().memInfo()).free };
    },
    async releaseCaches() {
      // CudaRuntime.releaseCaches() empties every plan cache of the process; older runtimes expose PlanCache.clearAll.
      const instance = rt() as ApiCudaRuntime & { releaseCaches?: () => unknown };
      let released: string | undefined;
      if (typeof instance.releaseCaches === 'function') {
        await instance.releaseCaches();
        released = 'CudaRuntime.releaseCaches()';
      } else {
        const planCache = runtimes.cuda?.exports.PlanCache as { clearAll?: () => unknown } | undefined;
        if (typeof planCache?.clearAll === 'function') {
          await planCache.clearAll();
          released = 'PlanCache.clearAll()';
        }
      }
      if (released) await rt().synchronize();
      return released;
    },
    traceWindow: () => openTraceWindow(rt()),
  };
}

function webgpuSide(runtimes: RuntimePackages): DeviceSide {
  const runtime = () => {
    if (!runtimes.webgpu) throw new BenchError('ERR_QATTN_BACKEND_UNAVAILABLE', runtimes.webgpuError ?? '@qattn/webgpu-runtime is not loaded');
    return runtimes.webgpu;
  };
  return {
    async upload(inputs, shape) {
      const context = await runtime().acquireGpu();
      const tensors: ApiDeviceTensor[] = [];
      try {
        tensors.push(runtime().fromArray(context, inputs.q, qDims(shape)));
        tensors.push(runtime().fromArray(context, inputs.k, kvDims(shape)));
        tensors.push(runtime().fromArray(context, inputs.v, kvDims(shape)));
      } catch (err) {
        disposeAll(tensors);
        throw err;
      }
      return tensors;
    },
    // The WebGPU device entries return once the work is submitted; a sequential caller waits for the queue.
    async settle(out) {
      await out.context?.device?.queue?.onSubmittedWorkDone?.();
    },
    // Dawn reports neither live buffers nor free memory: RSS is the only measure here.
    async memory() {
      return {};
    },
    async releaseCaches() {
      return undefined;
    },
  };
}

/** Builds the subject of one algorithm on one GPU backend. */
export function createOverheadSubject(
  algorithm: Algorithm,
  pkg: KernelPackage,
  backend: GpuBackendName,
  runtimes: RuntimePackages,
  options: Record<string, unknown>,
): OverheadSubject {
  const side = backend === 'cuda' ? cudaSide(runtimes) : webgpuSide(runtimes);
  const gc = garbageCollector();
  return {
    algorithm: algorithm.id,
    backend,
    async availability() {
      return (await algorithm.backends())[backend];
    },
    async prepareDevice(inputs, shape): Promise<PreparedCall> {
      const entry: DeviceAttentionFn | undefined = pkg.deviceEntries?.[backend];
      if (!entry) throw new BenchError('ERR_BENCH_NO_API', `${pkg.name} exports no device-resident entry for ${backend}`);
      const [q, k, v] = await side.upload(inputs, shape);
      const callOptions = { ...options, causal: shape.causal };
      return {
        async call() {
          const out = await entry(q, k, v, apiShape(shape), callOptions);
          try {
            await side.settle(out);
          } finally {
            out.dispose();
          }
        },
        dispose: () => disposeAll([q, k, v]),
      };
    },
    async prepareTyped(inputs, shape): Promise<PreparedCall> {
      return {
        async call() {
          await algorithm.run(inputs, apiShape(shape), shape.causal, backend);
        },
        dispose() {},
      };
    },
    kernelTime(shape, warmup, repeats) {
      // GPU timing goes through the hook on the package's own device-resident data: no host inputs are needed.
      const noHostInputs = () => Promise.reject(new BenchError('ERR_BENCH_NO_HOOK', `${pkg.name} has no benchmark hook for ${backend}`));
      return algorithm.time({ shape: apiShape(shape), causal: shape.causal, backend, warmup, repeats, seed: 1, inputs: noHostInputs });
    },
    async memory() {
      const device = await side.memory();
      // Native memory behind collected wrappers (Dawn's buffers, bind groups) is freed by finalizers, which run after
      // the collection on a later turn: collect, yield once, collect again.
      gc();
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      return { ...device, rssBytes: process.memoryUsage().rss };
    },
    releaseCaches: () => side.releaseCaches(),
    traceWindow: () => side.traceWindow?.(),
  };
}

/** Subjects for every selected kernel algorithm × GPU backend (the float baseline has no GPU entry). */
export function createOverheadSubjects(
  algorithms: Algorithm[],
  packages: { flashInt8: KernelPackage; turbo: KernelPackage },
  backends: GpuBackendName[],
  runtimes: RuntimePackages,
  extraOptions: Record<string, unknown> = {},
): OverheadSubject[] {
  const subjects: OverheadSubject[] = [];
  for (const algorithm of algorithms) {
    if (algorithm.id === 'float32') continue;
    const source = KERNEL_ALGORITHMS[algorithm.id];
    for (const backend of backends) {
      subjects.push(createOverheadSubject(algorithm, packages[source.pkg], backend, runtimes, { ...source.options, ...extraOptions }));
    }
  }
  return subjects;
}
