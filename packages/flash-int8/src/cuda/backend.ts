import { type CudaRuntime, type DeviceTensor, getCudaRuntime } from '@qattn/cuda-runtime';
import { type BenchmarkResult, LOG2E, QattnError, type ResolvedShape, benchmarkData, median } from '@qattn/quant-core';
import type { FlashInt8Backend, FlashInt8Call } from '../backends.js';
import type { ResolvedFlashInt8Options } from '../options.js';
import { type FlashInt8Binding, type FlashInt8Layout, loadFlashInt8Addon } from './addon.js';

/** The benchmark contract (quant-core `BenchmarkResult`), with every optional field filled: CUDA events, medians. */
export interface CudaBenchmarkResult extends BenchmarkResult {
  backend: 'cuda';
  quantMs: number;
  attnMs: number;
  peakDeviceBytes: number;
  timer: 'events';
}

/** The CUDA backend of flash-int8: typed-array `run`, device-resident `runDevice`, and `benchmark`. */
export interface FlashInt8CudaBackend extends FlashInt8Backend {
  readonly name: 'cuda';
  readonly runtime: CudaRuntime;
  runDevice(q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, call: Omit<FlashInt8Call, 'q' | 'k' | 'v'>): Promise<DeviceTensor<'float32'>>;
  benchmark(
    shape: ResolvedShape,
    scale: number,
    causal: boolean,
    options: ResolvedFlashInt8Options,
    settings: { warmup: number; repeats: number; seed?: number },
  ): Promise<CudaBenchmarkResult>;
}

/**
 * Throws `ERR_QATTN_UNSUPPORTED` for what the CUDA kernels do not implement. They implement the CPU oracle's defaults
 * (per-token Q/K, K smoothing, 'rowmax' or 'global' P per key block with unsigned codes up to `pCodeMax` 127 or
 * 255 (u8×s8 MMA), V per (key block, channel), optional V smoothing; key blocks (blockN) of 32 or 64 keys) and
 * pv 'fp16'.
 */
export function assertCudaSupports(shape: ResolvedShape, options: ResolvedFlashInt8Options, addon: FlashInt8Binding): void {
  const unsupported = (what: string, details: Record<string, unknown>) => {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `@qattn/flash-int8 cuda: ${what}`, { backend: 'cuda', ...details });
  };
  if (!addon.headDims.includes(shape.headDim)) {
    unsupported(`headDim ${shape.headDim} has no kernel (compiled: ${addon.headDims.join(', ')})`, { headDim: shape.headDim });
  }
  if (options.qkGranularity !== 'token') {
    unsupported(`qkGranularity '${options.qkGranularity}' is not implemented (only 'token')`, { option: 'qkGranularity' });
  }
  if (options.pv === 'int8' && options.vGranularity !== 'blockChannel') {
    unsupported(`pv 'int8' needs vGranularity 'blockChannel' (got '${options.vGranularity}')`, { option: 'vGranularity' });
  }
  if (options.pv === 'int8' && !addon.keyBlocks.includes(options.blockN)) {
    unsupported(`pv 'int8' key blocks (blockN) of ${options.blockN} keys have no kernel (compiled: ${addon.keyBlocks.join(', ')})`, {
      option: 'blockN',
    });
  }
  if (shape.batch * shape.heads > 65535) {
    unsupported(`batch·heads ${shape.batch * shape.heads} exceeds the quantization grid (65535)`, {});
  }
}

/** Device buffers of one shape: the quantized Q/K/V, their scales, and the smoothing statistics. */
class Workspace {
  private constructor(
    readonly layout: FlashInt8Layout,
    readonly tensors: Record<'qInt8' | 'qScale' | 'kInt8' | 'kScale' | 'vT' | 'vScale' | 'kMean' | 'vMean' | 'statPartial', DeviceTensor>,
  ) {}

  static async allocate(runtime: CudaRuntime, addon: FlashInt8Binding, shape: ResolvedShape, pvFp16: boolean): Promise<Workspace> {
    const layout = addon.layout(shape);
    const sizes = {
      qInt8: layout.qInt8Bytes,
      qScale: layout.qScaleBytes,
      kInt8: layout.kInt8Bytes,
      kScale: layout.kScaleBytes,
      vT: pvFp16 ? layout.vFp16Bytes : layout.vInt8Bytes,
      vScale: layout.vScaleBytes,
      kMean: layout.meanBytes,
      vMean: layout.meanBytes,
      statPartial: layout.statBytes,
    };
    const tensors: Partial<Workspace['tensors']> = {};
    try {
      for (const [name, bytes] of Object.entries(sizes)) {
        tensors[name as keyof Workspace['tensors']] = await runtime.empty('uint8', [bytes]);
      }
    } catch (err) {
      for (const tensor of Object.values(tensors)) tensor?.dispose();
      throw err;
    }
    return new Workspace(layout, tensors as Workspace['tensors']);
  }

  get bytes(): number {
    return Object.values(this.tensors).reduce((sum, t) => sum + t.byteLength, 0);
  }

  dispose(): void {
    for (const tensor of Object.values(this.tensors)) tensor.dispose();
  }
}

function packCall(
  addon: FlashInt8Binding,
  workspace: Workspace,
  tensors: { q: DeviceTensor; k: DeviceTensor; v: DeviceTensor; out: DeviceTensor },
  shape: ResolvedShape,
  scale: number,
  causal: boolean,
  options: ResolvedFlashInt8Options,
  stages: number,
): Uint8Array {
  const w = workspace.tensors;
  return addon.packArgs({
    q: tensors.q.pointer,
    k: tensors.k.pointer,
    v: tensors.v.pointer,
    out: tensors.out.pointer,
    qInt8: w.qInt8.pointer,
    qScale: w.qScale.pointer,
    kInt8: w.kInt8.pointer,
    kScale: w.kScale.pointer,
    vT: w.vT.pointer,
    vScale: w.vScale.pointer,
    kMean: w.kMean.pointer,
    vMean: w.vMean.pointer,
    statPartial: w.statPartial.pointer,
    batch: shape.batch,
    heads: shape.heads,
    kvHeads: shape.kvHeads,
    seqQ: shape.seqQ,
    seqKV: shape.seqKV,
    headDim: shape.headDim,
    seqQPad: workspace.layout.seqQPad,
    seqKVPad: workspace.layout.seqKVPad,
    statSplits: workspace.layout.statSplits,
    smScaleLog2: scale * LOG2E,
    causal: causal ? 1 : 0,
    pvFp16: options.pv === 'fp16' ? 1 : 0,
    pRowmax: options.pScale === 'rowmax' ? 1 : 0,
    smoothK: options.smoothK ? 1 : 0,
    smoothV: options.smoothV ? 1 : 0,
    pCodeMax: options.pCodeMax,
    keyBlock: options.pv === 'fp16' ? 64 : options.blockN,
    stages,
  });
}

function checkDeviceInput(name: string, tensor: DeviceTensor, dims: number[]): void {
  if (tensor.dtype !== 'float32') {
    throw new QattnError('ERR_QATTN_DTYPE', `${name} must be a float32 device tensor, got ${tensor.dtype}`, { tensor: name });
  }
  if (tensor.elements !== dims.reduce((a, b) => a * b, 1)) {
    throw new QattnError('ERR_QATTN_SHAPE', `${name} has ${tensor.elements} elements but the shape needs [${dims.join(', ')}]`, { tensor: name });
  }
}

/**
 * Creates the CUDA backend. Throws `ERR_QATTN_BACKEND_UNAVAILABLE` when the runtime or this package's addon cannot
 * load (no device, no driver, addon not built: the message says which and how to build it).
 */
export async function createCudaBackend(): Promise<FlashInt8CudaBackend> {
  const runtime = getCudaRuntime();
  const addon = loadFlashInt8Addon();
  if (addon.abiVersion !== runtime.binding.abiVersion) {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `@qattn/flash-int8 cuda: launch ABI ${addon.abiVersion} != runtime ABI ${runtime.binding.abiVersion}; rebuild both`);
  }
  const [major] = runtime.device.computeCapability;
  if (major < 8) {
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `@qattn/flash-int8 cuda: needs compute capability ≥ 8.0 (INT8 mma.m16n8k32), device ${runtime.device.name} is ${runtime.device.computeCapability.join('.')}`);
  }
  const allStages = addon.stageQuantize | addon.stageAttention;

  async function runDevice(
    q: DeviceTensor,
    k: DeviceTensor,
    v: DeviceTensor,
    call: Omit<FlashInt8Call, 'q' | 'k' | 'v'>,
  ): Promise<DeviceTensor<'float32'>> {
    const { shape } = call;
    assertCudaSupports(shape, call.options, addon);
    checkDeviceInput('q', q, [shape.batch, shape.heads, shape.seqQ, shape.headDim]);
    checkDeviceInput('k', k, [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim]);
    checkDeviceInput('v', v, [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim]);
    const out = await runtime.empty('float32', [shape.batch, shape.heads, shape.seqQ, shape.headDim]);
    let workspace: Workspace | undefined;
    try {
      workspace = await Workspace.allocate(runtime, addon, shape, call.options.pv === 'fp16');
      const args = packCall(addon, workspace, { q, k, v, out }, shape, call.scale, call.causal, call.options, allStages);
      await runtime.launch(addon.launcher, args, 'flash-int8 attention (quantize + attn_fwd_int8_sm80)');
      return out;
    } catch (err) {
      out.dispose();
      throw err;
    } finally {
      workspace?.dispose();
    }
  }

  return {
    name: 'cuda',
    runtime,
    runDevice,

    async run(call: FlashInt8Call): Promise<Float32Array> {
      assertCudaSupports(call.shape, call.options, addon);
      const { shape } = call;
      const inputs: DeviceTensor[] = [];
      try {
        inputs.push(await runtime.upload(call.q, 'float32', [shape.batch, shape.heads, shape.seqQ, shape.headDim]));
        inputs.push(await runtime.upload(call.k, 'float32', [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim]));
        inputs.push(await runtime.upload(call.v, 'float32', [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim]));
        const out = await runDevice(inputs[0], inputs[1], inputs[2], call);
        try {
          return await out.download();
        } finally {
          out.dispose();
        }
      } finally {
        for (const tensor of inputs) tensor.dispose();
      }
    },

    async benchmark(shape, scale, causal, options, settings) {
      assertCudaSupports(shape, options, addon);
      const owned: Array<{ dispose(): void }> = [];
      try {
        const seed = settings.seed ?? 1;
        const qDims = [shape.batch, shape.heads, shape.seqQ, shape.headDim];
        const kvDims = [shape.batch, shape.kvHeads, shape.seqKV, shape.headDim];
        const q = await runtime.upload(benchmarkData(shape.qElements, seed), 'float32', qDims);
        owned.push(q);
        const k = await runtime.upload(benchmarkData(shape.kvElements, seed + 1), 'float32', kvDims);
        owned.push(k);
        const v = await runtime.upload(benchmarkData(shape.kvElements, seed + 2), 'float32', kvDims);
        owned.push(v);
        const out = await runtime.empty('float32', qDims);
        owned.push(out);
        const workspace = await Workspace.allocate(runtime, addon, shape, options.pv === 'fp16');
        owned.push(workspace);
        const pack = (stages: number) => packCall(addon, workspace, { q, k, v, out }, shape, scale, causal, options, stages);
        const { warmup, repeats } = settings;
        const whole = await runtime.time(addon.launcher, pack(allStages), 'flash-int8 quantize + attention', warmup, repeats);
        const quant = await runtime.time(addon.launcher, pack(addon.stageQuantize), 'flash-int8 quantize', warmup, repeats);
        const attn = await runtime.time(addon.launcher, pack(addon.stageAttention), 'flash-int8 attention', warmup, repeats);
        return {
          backend: 'cuda',
          medianMs: median(whole),
          minMs: Math.min(...whole),
          samplesMs: whole,
          quantMs: median(quant),
          attnMs: median(attn),
          peakDeviceBytes: q.byteLength + k.byteLength + v.byteLength + out.byteLength + workspace.bytes,
          timer: 'events',
        };
      } finally {
        for (const tensor of owned) tensor.dispose();
      }
    },
  };
}
