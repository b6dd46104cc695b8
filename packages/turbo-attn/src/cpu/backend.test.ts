import { attnFwdQuantizedCpu, resolveShape, type AttentionShape } from '@qattn/quant-core';
import { generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { resolveTurboOptions, type TurboOptions } from '../options.js';
import { flashQVariant, turboAttentionCpu } from './backend.js';
import { quantizeFlashQ } from './quantize_flashq_cpu.js';

function run(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape, causal: boolean, options: TurboOptions = {}) {
  const resolved = resolveTurboOptions(options);
  return turboAttentionCpu({ q, k, v, shape: resolveShape(shape), scale: 1 / Math.sqrt(shape.headDim), causal, options: resolved });
}

describe('FlashQ CPU kernel: exact structural properties', () => {
  it('skipping tiles that SAS makes all-zero changes nothing, bit for bit', () => {
    const shape = { batch: 1, heads: 2, seqQ: 128, seqKV: 256, headDim: 64 };
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 5, sharpness: 3 });
    const resolvedShape = resolveShape(shape);
    const options = resolveTurboOptions({ sasThreshold: 4, blockN: 16 });
    const operands = quantizeFlashQ(q, k, v, resolvedShape, options);
    const params = { scale: 1 / 8, causal: false, blockM: options.blockM, blockN: options.blockN };
    const variant = flashQVariant(options);
    const skipping = attnFwdQuantizedCpu(operands, resolvedShape, params, variant);
    const computing = attnFwdQuantizedCpu(operands, resolvedShape, params, { ...variant, skipSparseTiles: false });
    expect(skipping.stats.skippedSparse).toBeGreaterThan(0);
    expect(computing.stats.skippedSparse).toBe(0);
    expect(skipping.out).toEqual(computing.out);
  });

  it('GQA equals multi-head attention on K/V repeated per query head, bit for bit', () => {
    const gqa = { batch: 2, heads: 6, kvHeads: 2, seqQ: 40, seqKV: 70, headDim: 32 };
    const { q, k, v } = generateInputs(gqa, { kind: 'llm', seed: 9 });
    const mha = { ...gqa, kvHeads: 6 };
    const repeat = (x: Float32Array) => {
      const out = new Float32Array(2 * 6 * 70 * 32);
      const perHead = 70 * 32;
      for (let b = 0; b < 2; b++) for (let h = 0; h < 6; h++) out.set(x.subarray((b * 2 + Math.floor(h / 3)) * perHead, (b * 2 + Math.floor(h / 3) + 1) * perHead), (b * 6 + h) * perHead);
      return out;
    };
    for (const causal of [false, true]) {
      expect(run(q, k, v, gqa, causal).out).toEqual(run(q, repeat(k), repeat(v), mha, causal).out);
    }
  });

  it('batches are independent, bit for bit', () => {
    const shape = { batch: 2, heads: 2, seqQ: 33, seqKV: 65, headDim: 16 };
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 3 });
    const single = { ...shape, batch: 1 };
    const half = (x: Float32Array, b: number) => x.slice((b * x.length) / 2, ((b + 1) * x.length) / 2);
    const both = run(q, k, v, shape, true).out;
    for (const b of [0, 1]) expect(both.slice((b * both.length) / 2, ((b + 1) * both.length) / 2)).toEqual(run(half(q, b), half(k, b), half(v, b), single, true).out);
  });

  it('outputs 0 for queries that see no key, and never visits tiles above the causal diagonal', () => {
    const shape = { batch: 1, heads: 1, seqQ: 80, seqKV: 50, headDim: 32 };
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 4 });
    const { out, stats } = run(q, k, v, shape, true, { blockM: 16, blockN: 16 });
    // Queries 0..29 see no key (query i sees keys j ≤ i − 30).
    expect(out.subarray(0, 30 * 32).every((x) => x === 0)).toBe(true);
    expect(out.subarray(30 * 32).some((x) => x !== 0)).toBe(true);
    // Query tiles [0,16) [16,32) [32,48) [48,64) [64,80) visit 0, 1, 2, 3, 4 of the 4 key tiles (keys ≤ 1, 17, 33, 49).
    expect(stats).toEqual({ tiles: 5 * 4, skippedCausal: 4 + 3 + 2 + 1 + 0, skippedSparse: 0 });
  });

  it('keeps a row of identical keys exact: the output is that value row', () => {
    // Every key equal → uniform softmax; every value row equal → the output is that row, up to INT8 of V (exact here:
    // V's values are ±1 multiples of one scale).
    const shape = { batch: 1, heads: 1, seqQ: 5, seqKV: 100, headDim: 8 };
    const q = Float32Array.from({ length: 5 * 8 }, (_, i) => Math.sin(i));
    const k = Float32Array.from({ length: 100 * 8 }, (_, i) => (i % 8) * 0.25);
    const row = [1, -1, 0.5, -0.5, 1, 1, -1, 0];
    const v = Float32Array.from({ length: 100 * 8 }, (_, i) => row[i % 8]);
    const { out } = run(q, k, v, shape, false);
    for (let i = 0; i < 5; i++) for (let d = 0; d < 8; d++) expect(out[i * 8 + d]).toBeCloseTo(row[d], 6);
  });

  it('with V smoothing, reproduces a V that is constant over tokens exactly', () => {
    const shape = { batch: 1, heads: 2, seqQ: 9, seqKV: 70, headDim: 16 };
    const { q, k } = generateInputs(shape, { kind: 'llm', seed: 12 });
    const row = Float32Array.from({ length: 16 }, (_, d) => Math.fround(0.37 * d - 2.1));
    const v = Float32Array.from({ length: 2 * 70 * 16 }, (_, i) => row[i % 16]);
    const { out } = run(q, k, v, shape, true, { smoothV: true });
    for (let i = 0; i < out.length; i++) expect(out[i]).toBe(row[i % 16]);
  });

  it('does not modify its inputs', () => {
    const shape = { batch: 1, heads: 2, kvHeads: 1, seqQ: 20, seqKV: 30, headDim: 16 };
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 8 });
    const copies = [q.slice(), k.slice(), v.slice()];
    run(q, k, v, shape, true);
    expect([q, k, v]).toEqual(copies);
  });
});
