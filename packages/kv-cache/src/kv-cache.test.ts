import { type QattnErrorCode, isQattnError } from '@qattn/quant-core';
import { compare, generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { QuantizedKVCache, compressedGroupBytes } from './index.js';

/** LLM-like k and v `[batch, kvHeads, tokens, headDim]` from the reference generator (outlier K channels, Student-t V). */
function llmKV(batch: number, kvHeads: number, tokens: number, headDim: number, seed = 1) {
  const { k, v } = generateInputs({ batch, heads: kvHeads, kvHeads, seqQ: 1, seqKV: tokens, headDim }, { kind: 'llm', seed });
  return { k, v };
}

function expectCode(fn: () => unknown, code: QattnErrorCode, mentions?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isQattnError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  if (mentions) expect((caught as Error).message).toContain(mentions);
}

describe('QuantizedKVCache buffer and flushing', () => {
  it('keeps tokens INT8 in the buffer until a full block accumulates, then compresses it', () => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 2, headDim: 16 }, { blockSize: 8 });
    const { k, v } = llmKV(1, 2, 20, 16);
    const slice = (x: Float32Array, from: number, to: number) => {
      const out = new Float32Array(2 * (to - from) * 16);
      for (let h = 0; h < 2; h++) out.set(x.subarray((h * 20 + from) * 16, (h * 20 + to) * 16), h * (to - from) * 16);
      return out;
    };
    cache.append(slice(k, 0, 7), slice(v, 0, 7), 7);
    expect(cache.memory()).toMatchObject({ compressedTokens: 0, bufferedTokens: 7 });
    cache.append(slice(k, 7, 8), slice(v, 7, 8), 1);
    expect(cache.memory()).toMatchObject({ compressedTokens: 8, bufferedTokens: 0 });
    cache.append(slice(k, 8, 20), slice(v, 8, 20), 12);
    expect(cache.memory()).toMatchObject({ compressedTokens: 16, bufferedTokens: 4 });
    expect(cache.length).toBe(20);
    expect(cache.blockBits().k).toHaveLength(2);
  });

  it('reaches the same state whether tokens arrive one by one or all at once', () => {
    const { k, v } = llmKV(2, 2, 37, 32, 4);
    const atOnce = new QuantizedKVCache({ batch: 2, kvHeads: 2, headDim: 32 }, { blockSize: 16 });
    atOnce.append(k, v, 37);
    const oneByOne = new QuantizedKVCache({ batch: 2, kvHeads: 2, headDim: 32 }, { blockSize: 16 });
    for (let t = 0; t < 37; t++) {
      const token = (x: Float32Array) => {
        const out = new Float32Array(4 * 32);
        for (let g = 0; g < 4; g++) out.set(x.subarray((g * 37 + t) * 32, (g * 37 + t + 1) * 32), g * 32);
        return out;
      };
      oneByOne.append(token(k), token(v), 1);
    }
    expect(oneByOne.readInt8()).toEqual(atOnce.readInt8());
    expect(oneByOne.blockBits()).toEqual(atOnce.blockBits());
  });

  it('read() is the INT8 view times its per-token scales, in [batch, kvHeads, length, headDim] order', () => {
    const cache = new QuantizedKVCache({ batch: 2, kvHeads: 3, headDim: 8 }, { blockSize: 4 });
    const { k, v } = llmKV(2, 3, 10, 8, 6);
    cache.append(k, v, 10);
    const { k: kRead, v: vRead } = cache.read();
    const view = cache.readInt8();
    expect(kRead).toHaveLength(2 * 3 * 10 * 8);
    expect(view.kScale).toHaveLength(2 * 3 * 10);
    for (let row = 0; row < 60; row++) {
      for (let d = 0; d < 8; d++) {
        expect(kRead[row * 8 + d]).toBe(Math.fround(view.k[row * 8 + d] * view.kScale[row]));
        expect(vRead[row * 8 + d]).toBe(Math.fround(view.v[row * 8 + d] * view.vScale[row]));
      }
    }
  });

  it('clear() empties the cache', () => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 1, headDim: 4 }, { blockSize: 2 });
    cache.append(new Float32Array(12).fill(1), new Float32Array(12).fill(2), 3);
    cache.clear();
    expect(cache.length).toBe(0);
    expect(cache.read().k).toHaveLength(0);
    expect(cache.memory()).toEqual({ bytes: 0, fp16Bytes: 0, compressionRatio: 0, compressedTokens: 0, bufferedTokens: 0 });
  });
});

describe('QuantizedKVCache accuracy', () => {
  it('keeps every element within its stated bound: s_t/2 buffered, s_b·(1 + ⌊step/2⌋) compressed', () => {
    const blockSize = 64;
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 4, headDim: 64 }, { blockSize });
    const tokens = 3 * blockSize + 17;
    const { k, v } = llmKV(1, 4, tokens, 64, 2);
    cache.append(k, v, tokens);
    const { k: kRead, v: vRead } = cache.read();
    const view = cache.readInt8();
    const bits = cache.blockBits();
    // Largest integer step of the progressive stage: ⌈254 / 15⌉ = 17 at 4 bits, ⌈254 / 3⌉ = 85 at 2 bits.
    const halfStep = { 4: 8, 2: 42 } as Record<number, number>;
    let worstExcess = -Infinity; // max over elements of |x − x̂| / bound − 1: must be ≤ 0 (up to float32 rounding)
    for (const [x, xRead, scale, blockBits] of [
      [k, kRead, view.kScale, bits.k],
      [v, vRead, view.vScale, bits.v],
    ] as const) {
      for (let h = 0; h < 4; h++) {
        for (let t = 0; t < tokens; t++) {
          const block = Math.floor(t / blockSize);
          const bound = block < blockBits.length ? scale[h * tokens + t] * (1 + halfStep[blockBits[block][h]]) : scale[h * tokens + t] / 2;
          for (let d = 0; d < 64; d++) {
            const i = (h * tokens + t) * 64 + d;
            worstExcess = Math.max(worstExcess, Math.abs(x[i] - xRead[i]) / bound - 1);
          }
        }
      }
    }
    expect(worstExcess).toBeLessThanOrEqual(1e-6);
  });

  // Measured on the LLM-like generator (8 kv heads, hd128, 1024 tokens): relative L2 of the dequantized K / V,
  // K: 5.3% (all 4-bit), 14.6% (half the heads 2-bit); V (Student-t, heavy tails): 13.7%, 42.3%.
  it.each([
    [0, 0.06, 0.15],
    [0.5, 0.16, 0.45],
  ])('dequantizes LLM-like K/V within the stated relative L2 (lowBitFraction %f: K ≤ %f, V ≤ %f)', (lowBitFraction, kBound, vBound) => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 8, headDim: 128 }, { lowBitFraction });
    const { k, v } = llmKV(1, 8, 1024, 128, 3);
    cache.append(k, v, 1024);
    const read = cache.read();
    const kError = compare(read.k, k).relL2;
    const vError = compare(read.v, v).relL2;
    expect(kError).toBeLessThanOrEqual(kBound);
    expect(vError).toBeLessThanOrEqual(vBound);
    expect(kError).toBeGreaterThan(kBound / 2);
  });

  // Per-token INT8: K's outlier channels set each token's scale (measured 1.4%), Student-t V 1.0%.
  it('keeps buffered (INT8) tokens within 2% relative L2', () => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 8, headDim: 128 });
    const { k, v } = llmKV(1, 8, 63, 128, 5);
    cache.append(k, v, 63);
    expect(cache.memory().compressedTokens).toBe(0);
    expect(compare(cache.read().k, k).relL2).toBeLessThan(0.02);
    expect(compare(cache.read().v, v).relL2).toBeLessThan(0.02);
  });

  it('gives 2 bits to the low-priority heads: the heads with the smallest values', () => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 4, headDim: 32 }, { blockSize: 16, lowBitFraction: 0.5 });
    const { k, v } = llmKV(1, 4, 16, 32, 7);
    // Head h's values scaled by 4^h (heads 2 and 3 large, 0 and 1 small), except K where the order is reversed.
    const scaled = (x: Float32Array, reverse: boolean) =>
      x.map((value, i) => value * 4 ** (reverse ? 3 - Math.floor(i / (16 * 32)) : Math.floor(i / (16 * 32))));
    cache.append(scaled(k, true), scaled(v, false), 16);
    expect(Array.from(cache.blockBits().k[0])).toEqual([4, 4, 2, 2]);
    expect(Array.from(cache.blockBits().v[0])).toEqual([2, 2, 4, 4]);
  });
});

describe('QuantizedKVCache memory', () => {
  it('counts bytes exactly: packed codes, per-channel step and offset, block scales, buffered INT8 rows', () => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 4, headDim: 64 }, { blockSize: 64, lowBitFraction: 0.5 });
    const { k, v } = llmKV(1, 4, 2 * 64 + 10, 64, 8);
    cache.append(k, v, 2 * 64 + 10);
    // Per tensor and block: 2 heads at 4 bits (2048 B codes) and 2 at 2 bits (1024 B), + 128 B step/offset + 4 B scale.
    const blockBytes = 2 * (2048 + 128 + 4) + 2 * (1024 + 128 + 4);
    expect(compressedGroupBytes(64, 64, 4)).toBe(2048 + 128 + 4);
    const bufferBytes = 4 * 10 * (64 + 4);
    expect(cache.memory()).toEqual({
      bytes: 2 * (2 * blockBytes + bufferBytes),
      fp16Bytes: 2 * 2 * 4 * 138 * 64,
      compressionRatio: (2 * 2 * 4 * 138 * 64) / (2 * (2 * blockBytes + bufferBytes)),
      compressedTokens: 128,
      bufferedTokens: 10,
    });
  });

  it.each([
    [0.5, 4.8],
    [0.25, 4.2],
  ])('compresses a 2/4-bit mix more than 4× against fp16 (lowBitFraction %f: > %f× at hd128)', (lowBitFraction, ratio) => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 8, headDim: 128 }, { lowBitFraction });
    const { k, v } = llmKV(1, 8, 1024, 128, 9);
    cache.append(k, v, 1024);
    expect(cache.memory().compressionRatio).toBeGreaterThan(ratio);
  });

  it('stays below 4× with 4 bits only (the 2-bit heads are what passes 4×)', () => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 8, headDim: 128 }, { lowBitFraction: 0 });
    const { k, v } = llmKV(1, 8, 512, 128, 10);
    cache.append(k, v, 512);
    expect(cache.memory().compressionRatio).toBeCloseTo(16384 / (4096 + 256 + 4), 6);
  });
});

describe('QuantizedKVCache bad inputs', () => {
  it('rejects bad shapes and options', () => {
    expectCode(() => new QuantizedKVCache({ batch: 0, kvHeads: 1, headDim: 8 }), 'ERR_QATTN_SHAPE', 'batch');
    expectCode(() => new QuantizedKVCache({ batch: 1, kvHeads: 1.5, headDim: 8 }), 'ERR_QATTN_SHAPE', 'kvHeads');
    expectCode(() => new QuantizedKVCache(null as never), 'ERR_QATTN_SHAPE');
    expectCode(() => new QuantizedKVCache({ batch: 1, kvHeads: 1, headDim: 8 }, { blockSize: 0 }), 'ERR_QATTN_OPTION', 'blockSize');
    expectCode(() => new QuantizedKVCache({ batch: 1, kvHeads: 1, headDim: 8 }, { lowBitFraction: 1.5 }), 'ERR_QATTN_OPTION', 'lowBitFraction');
    expectCode(() => new QuantizedKVCache({ batch: 1, kvHeads: 1, headDim: 8 }, { bits: 3 } as never), 'ERR_QATTN_OPTION', 'bits');
  });

  it('rejects bad appends and leaves the cache unchanged', () => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 2, headDim: 4 }, { blockSize: 2 });
    const ok = () => new Float32Array(2 * 3 * 4).fill(0.5);
    cache.append(ok(), ok(), 3);
    const before = cache.readInt8();
    const withNaN = ok();
    withNaN[5] = Number.NaN;
    expectCode(() => cache.append(ok(), ok(), 0), 'ERR_QATTN_SHAPE', 'tokens');
    expectCode(() => cache.append(ok(), ok(), 2.5), 'ERR_QATTN_SHAPE', 'tokens');
    expectCode(() => cache.append(ok(), new Float32Array(7), 3), 'ERR_QATTN_SHAPE', 'v');
    expectCode(() => cache.append(new Float64Array(24) as never, ok(), 3), 'ERR_QATTN_DTYPE', 'k');
    expectCode(() => cache.append(ok(), withNaN, 3), 'ERR_QATTN_NONFINITE', 'v[5]');
    expect(cache.length).toBe(3);
    expect(cache.readInt8()).toEqual(before);
  });

  it('does not modify the appended arrays', () => {
    const cache = new QuantizedKVCache({ batch: 1, kvHeads: 2, headDim: 16 }, { blockSize: 4 });
    const { k, v } = llmKV(1, 2, 9, 16, 11);
    const copies = [k.slice(), v.slice()];
    cache.append(k, v, 9);
    expect([k, v]).toEqual(copies);
  });
});
