import { defaultBlockN } from '@qattn/flash-int8';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CellShape } from '../src/metrics.js';
import { COPY_PEER_TRAFFIC, quantBandwidthOf, quantTraffic, quantTrafficOptionsOf } from '../src/quant-traffic.js';
import type { CellResult } from '../src/sweep.js';

// Padded on both sides (Sq 100 → 128, Skv 300 → 320) and GQA, so every term has its own factor.
const shape: CellShape = { batch: 2, heads: 4, kvHeads: 2, seqQ: 100, seqKV: 300, headDim: 64, causal: false };

describe('quantTraffic', () => {
  it('counts each fp32 input once and every padded code and scale row written (INT8 P·V, 32-key V blocks)', () => {
    const t = quantTraffic(shape, { pv: 'int8', keyBlock: 32 });
    expect([t.seqQPad, t.seqKVPad]).toEqual([128, 320]);
    expect(t).toMatchObject({
      qRead: 4 * 2 * 4 * 100 * 64,
      kRead: 4 * 2 * 2 * 300 * 64,
      vRead: 4 * 2 * 2 * 300 * 64,
      qCodes: 2 * 4 * 128 * 64,
      qScales: 4 * 2 * 4 * 128,
      kCodes: 2 * 2 * 320 * 64,
      kScales: 8 * 2 * 2 * 320,
      vCodes: 2 * 2 * 64 * 320,
      vScales: 8 * 2 * 2 * 10 * 64,
    });
    expect(t.readBytes).toBe(819_200);
    expect(t.writeBytes).toBe(264_192);
    expect(t.totalBytes).toBe(1_083_392);
  });

  it('halves the V scales with 64-key blocks; fp16 P·V writes 2-byte V_t and no V scales', () => {
    const int8 = quantTraffic(shape, { pv: 'int8', keyBlock: 64 });
    expect(int8.vScales).toBe(8 * 2 * 2 * 5 * 64);
    const fp16 = quantTraffic(shape, { pv: 'fp16', keyBlock: 64 });
    expect([fp16.vCodes, fp16.vScales]).toEqual([2 * 2 * 2 * 64 * 320, 0]);
    expect(fp16.readBytes).toBe(int8.readBytes);
  });

  it('adds no pad rows to multiples of the pads; the causal mask does not change the traffic', () => {
    const even = { ...shape, seqQ: 256, seqKV: 128 };
    const t = quantTraffic(even, COPY_PEER_TRAFFIC);
    expect([t.seqQPad, t.seqKVPad, t.qCodes, t.kCodes]).toEqual([256, 128, 2 * 4 * 256 * 64, 2 * 2 * 128 * 64]);
    expect(quantTraffic({ ...even, causal: true }, COPY_PEER_TRAFFIC)).toEqual(t);
  });

  it('refuses a non-integer dimension and a key block without a CUDA V scale layout', () => {
    expect(() => quantTraffic({ ...shape, seqKV: 0 }, COPY_PEER_TRAFFIC)).toThrow(expect.objectContaining({ code: 'ERR_BENCH_SHAPE', message: expect.stringContaining('seqKV') }));
    expect(() => quantTraffic({ ...shape, headDim: 1.5 }, COPY_PEER_TRAFFIC)).toThrow(/headDim must be a positive integer/);
    expect(() => quantTraffic(shape, { pv: 'int8', keyBlock: 128 })).toThrow(expect.objectContaining({ code: 'ERR_BENCH_KEY_BLOCK' }));
    expect(quantTraffic(shape, { pv: 'fp16', keyBlock: 128 }).vScales).toBe(0);
  });
});

// The addon's layout() sizes the workspace the quantizer writes (attention_args.h; V scales for 32-key blocks, the
// smallest): the written terms must be those sizes. Runs wherever the flash-int8 addon is built (no GPU needed).
const require = createRequire(import.meta.url);
const addonPath = join(dirname(require.resolve('@qattn/flash-int8/package.json')), 'build/Release/qattn_flash_int8.node');
describe.skipIf(!existsSync(addonPath))('quantTraffic against the CUDA addon layout()', () => {
  it('writes exactly the workspace the addon lays out, at several shapes', () => {
    const addon = require(addonPath) as { layout(shape: Omit<CellShape, 'causal'>): Record<string, number> };
    for (const s of [shape, { ...shape, heads: 32, kvHeads: 8, seqQ: 1, seqKV: 4097, headDim: 128 }, { ...shape, batch: 1, seqQ: 129, seqKV: 64, headDim: 256 }]) {
      const layout = addon.layout(s);
      const int8 = quantTraffic(s, { pv: 'int8', keyBlock: 32 });
      const fp16 = quantTraffic(s, { pv: 'fp16', keyBlock: 64 });
      expect([int8.seqQPad, int8.seqKVPad]).toEqual([layout.seqQPad, layout.seqKVPad]);
      expect(int8.writeBytes).toBe(layout.qInt8Bytes + layout.qScaleBytes + layout.kInt8Bytes + layout.kScaleBytes + layout.vInt8Bytes + layout.vScaleBytes);
      expect(fp16.writeBytes).toBe(layout.qInt8Bytes + layout.qScaleBytes + layout.kInt8Bytes + layout.kScaleBytes + layout.vFp16Bytes);
    }
  });
});

describe('quantTrafficOptionsOf and quantBandwidthOf', () => {
  it('takes each algorithm’s pv and key block: fixed options, then --options, then the package defaults', () => {
    for (const headDim of [64, 128, 256]) expect(quantTrafficOptionsOf('flash-int8-pv-int8', headDim)).toEqual({ pv: 'int8', keyBlock: defaultBlockN(headDim) });
    expect(quantTrafficOptionsOf('flash-int8-pv-fp16', 128)).toEqual({ pv: 'fp16', keyBlock: 64 });
    expect(quantTrafficOptionsOf('turbo-attn', 256)).toEqual({ pv: 'int8', keyBlock: 64 });
    expect(quantTrafficOptionsOf('turbo-attn-exp2', 128, { blockN: 32 })).toEqual({ pv: 'int8', keyBlock: 32 });
    expect(quantTrafficOptionsOf('flash-int8-pv-int8', 128, { pv: 'fp16' })).toEqual({ pv: 'fp16', keyBlock: 64 });
    expect(quantTrafficOptionsOf('flash-int8-pv-int8', 128, { blockN: 16 })).toBeUndefined();
    expect(quantTrafficOptionsOf('flash-int8-pv-int8', 128, { pv: 'fp8' })).toBeUndefined();
    expect(quantTrafficOptionsOf('float32', 128)).toBeUndefined();
  });

  const cell = (backend: 'cuda' | 'webgpu', quantMs?: number): CellResult => ({
    algorithm: 'flash-int8-pv-int8',
    backend,
    shape,
    ops: 1,
    status: 'ok',
    timing: { medianMs: 1, minMs: 1, samplesMs: [1], timer: 'events', ...(quantMs !== undefined ? { quantMs } : {}) },
  });

  it('gives cuda cells with a quantMs their bytes ÷ time in GB/s, and no other cell a number', () => {
    const bytes = quantTraffic(shape, { pv: 'int8', keyBlock: 64 }).totalBytes;
    const quant = quantBandwidthOf(cell('cuda', 0.002));
    expect(quant?.quantBytes).toBe(bytes);
    expect(quant?.quantGbps).toBeCloseTo(bytes / 2e-6 / 1e9, 9);
    expect(quantBandwidthOf(cell('cuda'))).toBeUndefined();
    expect(quantBandwidthOf(cell('webgpu', 0.002))).toBeUndefined();
    expect(quantBandwidthOf({ ...cell('cuda', 0.002), status: 'error' })).toBeUndefined();
  });
});
