/// <reference types="@webgpu/types" />
import type { KVCache, WebGpuKVCacheStorage } from '@qattn/kv-cache';
import { QattnError, unsharedView } from '@qattn/quant-core';
import { BufferUsage, MapMode, WebGpuTensor, assertAlive, timePhases, withDeviceErrors } from '@qattn/webgpu-runtime';
import type { DecodeParams } from '../decode_paged_cpu.js';
import type { DecodeBackend, DecodeTimingSettings } from '../decode-backend.js';
import type { AttentionState } from '../merge-attention-states.js';
import { webGpuStorageOf } from './device-cache.js';
import { type DecodeIo, type WebGpuDecodeSchedule, type WebGpuDecodeTuning, decodePlanFor, webGpuDecodeSchedule } from './decode-plan.js';

export { type WebGpuDecodableCache, webGpuStorageOf } from './device-cache.js';
export {
  DECODE_PLAN_CAPACITY,
  WEBGPU_DECODE_MAX_SPLITS,
  type WebGpuDecodeSchedule,
  type WebGpuDecodeTuning,
  clearDecodePlans,
  decodePlanCount,
  webGpuDecodeSchedule,
} from './decode-plan.js';
export { type DecodeSplitProblem, chooseDecodePagesPerSplit } from './decode-split-schedule.js';
export { DECODE_MAX_ROWS_PER_TILE, DECODE_WORKGROUP_SIZE, type DecodeTileProblem, type DecodeTiles, chooseDecodeTiles } from './decode-tile-schedule.js';
export { type PagePass, type PoolBits, pagePassBindings, planPagePasses } from './decode-page-passes.js';

/** The WebGPU decode backend: typed-array `decode`, device-resident `decodeDevice`, and `time` (GPU timestamps). */
export interface WebGpuDecodeBackend extends DecodeBackend {
  decode(q: Float32Array, cache: KVCache, params: DecodeParams, tuning?: WebGpuDecodeTuning): Promise<AttentionState>;
  /**
   * q `[batch, heads, queryTokens, headDim]` float32 on the cache's device; resolves, without waiting for the GPU, to
   * new tensors out `[batch, heads, queryTokens, headDim]` and lse `[batch, heads, queryTokens]` (natural log, −∞ for a
   * row without keys) that the caller disposes. q's values are not checked for NaN/Infinity (that would need a read
   * back per step), as the cache's device appends.
   */
  decodeDevice(q: WebGpuTensor, cache: KVCache, params: DecodeParams, tuning?: WebGpuDecodeTuning): Promise<{ out: WebGpuTensor; lse: WebGpuTensor }>;
  time(q: Float32Array, cache: KVCache, params: DecodeParams, settings: DecodeTimingSettings, tuning?: WebGpuDecodeTuning): Promise<number[]>;
  /** The schedule a call over `cache` with `params` would run. */
  schedule(cache: KVCache, params: DecodeParams, tuning?: WebGpuDecodeTuning): WebGpuDecodeSchedule;
}

const OPERATION = 'turboDecode (webgpu)';

/** The cache's storage and context (alive), the call's schedule and plan. */
function prepare(cache: KVCache, params: DecodeParams, tuning: WebGpuDecodeTuning | undefined) {
  const storage: WebGpuKVCacheStorage = webGpuStorageOf(cache);
  const { context, config } = storage;
  assertAlive(context, OPERATION);
  const schedule = webGpuDecodeSchedule(storage, params, tuning);
  const plan = decodePlanFor(context, { batch: config.batch, heads: params.heads, kvHeads: config.kvHeads, queryTokens: params.queryTokens, headDim: config.headDim });
  return { storage, context, schedule, plan };
}

/**
 * Split-KV decode over a WebGPU cache (kv-cache's `WebGpuKVCache`), reading its pages where they are: the WGSL of
 * kernels/ — decode_q_sink (q rotated and quantized once per row, the float32 sink), decode_pages (INT8 Q·Kᵀ and
 * P·V with dot4 straight on the stored codes: INT4/INT2 step and zero folded into q̂ and P̂ once per page, no
 * decompression; online base-2 softmax with SAS or exp2), decode_buffer (the INT8 buffer), decode_combine (merge of
 * the splits, un-rotation, lse) — the CPU oracle's algorithm (decode_paged_cpu.ts) on the same integers. Uses the
 * cache's own device; loading acquires nothing.
 */
export async function loadWebGpuDecodeBackend(): Promise<WebGpuDecodeBackend> {
  return {
    schedule(cache, params, tuning) {
      const storage = webGpuStorageOf(cache);
      return webGpuDecodeSchedule(storage, params, tuning);
    },

    async decode(q, cache, params, tuning) {
      const { storage, context, schedule, plan } = prepare(cache, params, tuning);
      if (!(q instanceof Float32Array) || q.length !== plan.outElements) {
        throw new QattnError('ERR_QATTN_SHAPE', `${OPERATION}: q must be a Float32Array of [batch, heads, queryTokens, headDim] = ${plan.outElements} elements`, { tensor: 'q' });
      }
      return withDeviceErrors(context, OPERATION, async () => {
        const { device } = context;
        const io = plan.claimIo();
        let broken = true;
        try {
          // Dawn's writeBuffer in Node crashes the process on a view over a SharedArrayBuffer (and rejects the
          // buffer itself): such arrays go up as private copies.
          device.queue.writeBuffer(io.q, 0, unsharedView(q));
          const encoder = device.createCommandEncoder({ label: OPERATION });
          plan.encode(encoder, storage, params, schedule, io);
          const outBytes = plan.outElements * 4;
          encoder.copyBufferToBuffer(io.out, 0, io.readback, 0, outBytes);
          encoder.copyBufferToBuffer(io.lse, 0, io.readback, outBytes, plan.lseElements * 4);
          device.queue.submit([encoder.finish()]);
          await io.readback.mapAsync(MapMode.READ);
          const bytes = io.readback.getMappedRange().slice(0);
          io.readback.unmap();
          broken = false;
          return { out: new Float32Array(bytes, 0, plan.outElements), lse: new Float32Array(bytes, outBytes, plan.lseElements) };
        } finally {
          plan.releaseIo(io, broken);
        }
      });
    },

    async decodeDevice(q, cache, params, tuning) {
      const { storage, context, schedule, plan } = prepare(cache, params, tuning);
      const { batch, headDim } = storage.config;
      const dims = [batch, params.heads, params.queryTokens, headDim];
      if (!(q instanceof WebGpuTensor) || q.dtype !== 'float32') {
        throw new QattnError('ERR_QATTN_DTYPE', `${OPERATION}: q must be a float32 WebGpuTensor [${dims.join(', ')}]`, { tensor: 'q' });
      }
      if (q.size !== plan.outElements) {
        throw new QattnError('ERR_QATTN_SHAPE', `${OPERATION}: q has ${q.size} elements, not [batch, heads, queryTokens, headDim] = [${dims.join(', ')}]`, { tensor: 'q' });
      }
      if (q.context.device !== context.device || (q.buffer.usage & BufferUsage.STORAGE) === 0) {
        throw new QattnError('ERR_QATTN_OPTION', `${OPERATION}: q must be a storage buffer on the cache's device`, { tensor: 'q' });
      }
      const out = WebGpuTensor.empty(context, dims);
      const lse = WebGpuTensor.empty(context, dims.slice(0, 3));
      try {
        await withDeviceErrors(context, OPERATION, () => {
          const encoder = context.device.createCommandEncoder({ label: OPERATION });
          const io: DecodeIo = { q: q.buffer, out: out.buffer, lse: lse.buffer };
          plan.encode(encoder, storage, params, schedule, io);
          context.device.queue.submit([encoder.finish()]);
        });
        return { out, lse };
      } catch (err) {
        out.dispose();
        lse.dispose();
        throw err;
      }
    },

    async time(q, cache, params, settings, tuning) {
      const { storage, context, schedule, plan } = prepare(cache, params, tuning);
      return withDeviceErrors(context, `${OPERATION} timing`, async () => {
        const io = plan.claimIo();
        try {
          context.device.queue.writeBuffer(io.q, 0, unsharedView(q));
          const { totals } = await timePhases(context, 2, settings, (encoder, mark) => {
            mark(0);
            plan.encode(encoder, storage, params, schedule, io);
            mark(1);
          });
          return totals;
        } finally {
          plan.releaseIo(io);
        }
      });
    },
  };
}
