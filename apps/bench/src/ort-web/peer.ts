/**
 * onnxruntime-web's WebGPU attention as a peer of qattn's WebGPU backend (`--peers`): the same shapes on the same
 * adapter in the same run, f32 and (where the adapter has `shader-f16`) f16, timed with GPU timestamps like qattn's
 * WebGPU cells, and checked against float64 attention on a slice of the output.
 */
import { benchmarkData, median } from '@qattn/quant-core';
import { WebGpuTensor } from '@qattn/webgpu-runtime';
import { REFERENCE_OPS_BUDGET } from '../accuracy.js';
import { attentionOps, type CellShape, tops } from '../metrics.js';
import type { ReferencePackage } from '../packages.js';
import type { BackendName } from '../presets.js';
import { type PeerRatio, ratiosAgainst } from '../peers.js';
import type { CellError, CellResult } from '../sweep.js';
import { MAX_WARMUP_CALLS } from '../warmup.js';
import { openOrtWeb, type OrtWebEnvironment, OrtWebUnavailable } from './environment.js';
import { buildAttentionModel, ortWebOpFor, type OrtWebDType, type OrtWebOp } from './onnx-model.js';

/** The peer in each precision, in table order. */
export const ORT_WEB_PEERS = ['ort-web-f32', 'ort-web-f16'] as const;
export type OrtWebPeerName = (typeof ORT_WEB_PEERS)[number];

const DTYPE: Record<OrtWebPeerName, OrtWebDType> = { 'ort-web-f32': 'float32', 'ort-web-f16': 'float16' };

/** One peer on one shape. `skipped`: the op cannot express the shape, or the adapter lacks the precision. */
export interface OrtWebCell {
  peer: OrtWebPeerName;
  shape: CellShape;
  status: 'ok' | 'error' | 'skipped';
  /** The contrib op the model runs (onnx-model.ts says why each). */
  op?: OrtWebOp;
  /** `timestamp-query`: GPU time of onnxruntime's submissions of one run(); `host`: run() until the queue is idle. */
  timer?: 'timestamp-query' | 'host';
  medianMs?: number;
  minMs?: number;
  samplesMs?: number[];
  /** run() until the queue is idle, host clock (median): the call as an application sees it. */
  hostMedianMs?: number;
  tops?: number;
  /** q, k, v, the output (and GQA's present K/V) in the peer's precision. */
  peakDeviceBytes?: number;
  /** Against float64 attention on the last query rows of the last batch, query head 1, of the timed run's own output. */
  accuracy?: { relL2: number; cos: number; rows: number };
  error?: CellError;
}

/** qattn's time against the peer's on one shape: `speedup` > 1 means qattn is faster. */
export type OrtWebRatio = Omit<PeerRatio, 'peer'> & {
  peer: OrtWebPeerName;
  /** The path qattn's backend reports for the cell (e.g. the dot4 kernel or the subgroup-matrix kernel). */
  path?: string;
};

/** The onnxruntime-web section of a report. */
export interface OrtWebReport {
  status: 'ok' | 'unavailable' | 'error';
  reason?: string;
  /** onnxruntime-web's version. */
  version?: string;
  adapter?: string;
  shaderF16?: boolean;
  cells: OrtWebCell[];
  ratios: OrtWebRatio[];
}

export interface OrtWebRunOptions {
  warmup: number;
  /** Least wall time of each cell's warm-up after the `warmup` calls, in ms (0 or absent: count only). */
  warmupMs?: number;
  repeats: number;
  seed: number;
  accuracyRows: number;
  reference: ReferencePackage;
  onProgress?: (done: number, total: number, label: string) => void;
}

function cellError(err: unknown): CellError {
  const candidate = err as { code?: unknown; message?: unknown };
  const code = typeof candidate?.code === 'string' ? candidate.code : 'ERR_PEER_ORT_WEB';
  const message = typeof candidate?.message === 'string' ? candidate.message : String(err);
  return { code, message: message.split('\n')[0] };
}

/** Inputs as the model declares them (`[batch, seq, heads·headDim]`): i.i.d. uniform [−1, 1), qattn's benchmark data. */
function peerInputs(shape: CellShape, seed: number) {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
  return {
    q: benchmarkData(batch * seqQ * heads * headDim, seed),
    k: benchmarkData(batch * seqKV * kvHeads * headDim, seed + 1),
    v: benchmarkData(batch * seqKV * kvHeads * headDim, seed + 2),
  };
}

/**
 * Relative L2 and cosine of the output's last `rows` query rows of the last batch and query head 1 (or 0) against
 * float64 attention of the same rows over every key (bottom-right causal: the last rows keep their masks). Head 1 reads
 * kv head ⌊1 / (heads / kvHeads)⌋, so a wrong head grouping or batch stride shows. Layouts `[batch, seq, heads·D]`.
 */
function sliceAccuracy(
  reference: ReferencePackage,
  shape: CellShape,
  inputs: ReturnType<typeof peerInputs>,
  output: Float32Array,
  rows: number,
): { relL2: number; cos: number; rows: number } {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
  if (!reference.attention || !reference.compare) throw new Error(reference.loadError ?? '@qattn/reference exports no attention/compare');
  const head = Math.min(1, heads - 1);
  const kvHead = Math.floor(head / (heads / kvHeads));
  // Rows first…first+count of one head of batch − 1: token t of that batch starts at (b · seq + t) · headCount · D.
  const gather = (data: Float32Array, seq: number, headCount: number, h: number, first: number, count: number) => {
    const out = new Float32Array(count * headDim);
    for (let t = 0; t < count; t++) {
      const start = (((batch - 1) * seq + first + t) * headCount + h) * headDim;
      out.set(data.subarray(start, start + headDim), t * headDim);
    }
    return out;
  };
  const q = gather(inputs.q, seqQ, heads, head, seqQ - rows, rows);
  const k = gather(inputs.k, seqKV, kvHeads, kvHead, 0, seqKV);
  const v = gather(inputs.v, seqKV, kvHeads, kvHead, 0, seqKV);
  const expected = reference.attention(q, k, v, { batch: 1, heads: 1, kvHeads: 1, seqQ: rows, seqKV, headDim }, { causal: shape.causal });
  const actual = gather(output, seqQ, heads, head, seqQ - rows, rows);
  const { relL2, cos } = reference.compare(actual, expected);
  return { relL2, cos, rows };
}

/** Runs one peer on one shape on an open environment. Never throws: failures are the cell's status. */
export async function measureOrtWebCell(env: OrtWebEnvironment, peer: OrtWebPeerName, shape: CellShape, options: OrtWebRunOptions): Promise<OrtWebCell> {
  const cell: OrtWebCell = { peer, shape, status: 'ok' };
  const choice = ortWebOpFor(shape);
  if ('reason' in choice) return { ...cell, status: 'skipped', error: { code: 'ERR_PEER_UNSUPPORTED', message: choice.reason } };
  cell.op = choice.op;
  const dtype = DTYPE[peer];
  const { context, ort } = env;
  if (dtype === 'float16' && !context.capabilities.shaderF16) {
    return { ...cell, status: 'skipped', error: { code: 'ERR_PEER_UNSUPPORTED', message: 'the adapter lacks shader-f16' } };
  }
  const tensors: WebGpuTensor[] = [];
  let session: Awaited<ReturnType<OrtWebEnvironment['ort']['InferenceSession']['create']>> | undefined;
  try {
    const model = buildAttentionModel(shape, dtype);
    session = await ort.InferenceSession.create(model.bytes, {
      executionProviders: ['webgpu'], // on env.webgpu.device: environment.ts
      preferredOutputLocation: 'gpu-buffer',
      logSeverityLevel: 3,
    });
    const host = peerInputs(shape, options.seed);
    const hostOf: Record<string, Float32Array> = { query: host.q, key: host.k, value: host.v };
    const feeds: Record<string, object> = {};
    for (const spec of model.inputs) {
      if (spec.dtype === 'int32') {
        // GroupQueryAttention's lengths: seqlens_k = total − 1 per batch, total_sequence_length = seqKV.
        const fill = spec.name === 'seqlens_k' ? shape.seqKV - 1 : shape.seqKV;
        feeds[spec.name] = new ort.Tensor('int32', new Int32Array(spec.dims[0]).fill(fill), spec.dims);
        continue;
      }
      const tensor = WebGpuTensor.fromArray(context, hostOf[spec.name], spec.dims, spec.dtype);
      tensors.push(tensor);
      feeds[spec.name] = ort.Tensor.fromGpuBuffer(tensor.buffer, { dataType: spec.dtype, dims: spec.dims });
    }
    const fetches: Record<string, object> = {};
    let output: WebGpuTensor | undefined;
    for (const spec of model.outputs) {
      const tensor = WebGpuTensor.empty(context, spec.dims, spec.dtype as OrtWebDType);
      tensors.push(tensor);
      if (spec.name === 'output') output = tensor;
      fetches[spec.name] = ort.Tensor.fromGpuBuffer(tensor.buffer, { dataType: spec.dtype as OrtWebDType, dims: spec.dims });
    }
    const gpuMs: number[] = [];
    const hostMs: number[] = [];
    const { queue } = context.device;
    const call = async () => {
      const start = performance.now();
      const timed = await env.timeSubmissions(() => session!.run(feeds, fetches));
      await queue.onSubmittedWorkDone();
      return { hostMs: performance.now() - start, gpuMs: timed.gpuMs };
    };
    // Warm-up: `warmup` calls and at least `warmupMs` of wall time (each call awaits the queue, so the wall time is
    // GPU work): the GPU idles down during the CPU-only work before a cell (see src/warmup.ts).
    const warmupMs = options.warmupMs ?? 0;
    const warmupStart = performance.now();
    for (let i = 0; i < options.warmup || (performance.now() - warmupStart < warmupMs && i < MAX_WARMUP_CALLS); i++) await call();
    for (let rep = 0; rep < options.repeats; rep++) {
      const timed = await call();
      hostMs.push(timed.hostMs);
      if (timed.gpuMs !== undefined) gpuMs.push(timed.gpuMs);
    }
    const samples = gpuMs.length ? gpuMs : hostMs;
    cell.timer = gpuMs.length ? 'timestamp-query' : 'host';
    cell.samplesMs = samples;
    cell.medianMs = median(samples);
    cell.minMs = Math.min(...samples);
    cell.hostMedianMs = median(hostMs);
    cell.tops = tops(attentionOps(shape), cell.medianMs);
    cell.peakDeviceBytes = tensors.reduce((sum, t) => sum + t.buffer.size, 0);
    const rows = Math.max(1, Math.min(shape.seqQ, options.accuracyRows, Math.floor(REFERENCE_OPS_BUDGET / (4 * shape.seqKV * shape.headDim))));
    cell.accuracy = sliceAccuracy(options.reference, shape, host, await output!.toArray(), rows);
  } catch (err) {
    Object.assign(cell, { status: 'error', error: cellError(err) });
  } finally {
    await session?.release().catch(() => undefined);
    for (const tensor of tensors) tensor.dispose();
  }
  return cell;
}

/** Ratios of every successful qattn WebGPU cell against every successful peer cell of its shape, with the cell's path. */
export function ortWebRatios(cells: CellResult[], peers: OrtWebCell[]): OrtWebRatio[] {
  return ratiosAgainst(cells, peers, (cell) => cell.backend === 'webgpu', true);
}

/**
 * Runs both peers on every shape. Never throws: without onnxruntime-web, Dawn or an adapter the report is
 * `unavailable` with the reason; a failing shape is that cell's error.
 */
export async function runOrtWebPeers(shapes: CellShape[], options: OrtWebRunOptions): Promise<OrtWebReport> {
  let env: OrtWebEnvironment;
  try {
    env = await openOrtWeb();
  } catch (err) {
    const status = err instanceof OrtWebUnavailable ? 'unavailable' : 'error';
    return { status, reason: (err as Error).message, cells: [], ratios: [] };
  }
  const cells: OrtWebCell[] = [];
  try {
    const total = shapes.length * ORT_WEB_PEERS.length;
    for (const shape of shapes) {
      for (const peer of ORT_WEB_PEERS) {
        options.onProgress?.(cells.length, total, `${peer} ${shape.seqKV}`);
        cells.push(await measureOrtWebCell(env, peer, shape, options));
      }
    }
    options.onProgress?.(total, total, 'done');
    const { adapter, capabilities } = env.context;
    return {
      status: 'ok',
      version: env.version,
      adapter: adapter.description || adapter.device || adapter.vendor || 'unknown adapter',
      shaderF16: capabilities.shaderF16,
      cells,
      ratios: [],
    };
  } finally {
    env.close();
  }
}
