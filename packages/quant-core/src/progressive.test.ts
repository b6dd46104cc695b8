import { describe, expect, it } from 'vitest';
import { packedLength } from './pack.js';
import {
  compressProgressive,
  decompressProgressive,
  progressiveBytes,
  progressiveErrorBound,
  progressiveLevels,
  type ProgressiveBits,
} from './progressive.js';
import { dequantize, quantize } from './quantize.js';
import { expectCode } from './test-helpers.js';

/** Deterministic xorshift32 in [0, 1): quant-core has no dependency on @qattn/reference's RNG. */
function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** A random INT8 block whose channels have random centres and widths (some full-range, some narrow, some constant). */
function randomBlock(tokens: number, channels: number, seed: number): Int8Array {
  const random = rng(seed);
  const block = new Int8Array(tokens * channels);
  for (let c = 0; c < channels; c++) {
    const width = [0, 1, 3, 40, 254][Math.floor(random() * 5)];
    const low = Math.floor(random() * (255 - width)) - 127;
    for (let t = 0; t < tokens; t++) block[t * channels + c] = low + Math.floor(random() * (width + 1));
  }
  return block;
}

describe.each([4, 2] as const)('progressive INT8 → INT%i', (bits: ProgressiveBits) => {
  it('round-trips every value within ⌊scale/2⌋ INT8 units of its channel, and the bound is reached', () => {
    let reachedBound = false;
    for (let seed = 1; seed <= 40; seed++) {
      const tokens = [1, 7, 64][seed % 3];
      const channels = [1, 33, 128][seed % 3];
      const block = randomBlock(tokens, channels, seed);
      const compressed = compressProgressive(block, tokens, channels, bits);
      const restored = decompressProgressive(compressed);
      const bound = progressiveErrorBound(compressed);
      for (let i = 0; i < block.length; i++) {
        const error = Math.abs(block[i] - restored[i]);
        expect(error).toBeLessThanOrEqual(bound[i % channels]);
        if (error === bound[i % channels] && error > 0) reachedBound = true;
      }
    }
    expect(reachedBound).toBe(true);
  });

  it('uses integer steps in [1, ⌈254/L⌉] and offsets at the channel minimum (or 127 − L·step when the grid would pass 127)', () => {
    const block = randomBlock(64, 128, 7 + bits);
    const compressed = compressProgressive(block, 64, 128, bits);
    const restored = decompressProgressive(compressed);
    const maxStep = Math.ceil(254 / progressiveLevels(bits));
    for (let c = 0; c < 128; c++) {
      expect(compressed.scale[c]).toBeGreaterThanOrEqual(1);
      expect(compressed.scale[c]).toBeLessThanOrEqual(maxStep);
      let min = 127;
      for (let t = 0; t < 64; t++) min = Math.min(min, block[t * 128 + c]);
      const step = compressed.scale[c];
      expect(compressed.zero[c]).toBe(Math.min(min, 127 - progressiveLevels(bits) * step));
      // The grid never passes 127, and where it starts at the minimum the minimum decodes exactly.
      expect(compressed.zero[c] + progressiveLevels(bits) * step).toBeLessThanOrEqual(127);
      for (let t = 0; t < 64; t++) if (block[t * 128 + c] === min && compressed.zero[c] === min) expect(restored[t * 128 + c]).toBe(min);
    }
  });

  it('is exact for all-zero and constant blocks; full-scale ±127 channels decode within one unit, never past INT8', () => {
    const zeros = new Int8Array(64 * 16);
    expect(decompressProgressive(compressProgressive(zeros, 64, 16, bits))).toEqual(zeros);
    const constant = new Int8Array(64 * 16).fill(-93);
    expect(decompressProgressive(compressProgressive(constant, 64, 16, bits))).toEqual(constant);
    const twoLevel = Int8Array.from({ length: 64 * 16 }, (_, i) => (i % 3 === 0 ? 127 : -127));
    const compressed = compressProgressive(twoLevel, 64, 16, bits);
    // 254 = 3 · 85 − 1 (int2) and 15 · 17 − 1 (int4): a grid from −127 would end at 128, so it runs from −128 to 127.
    expect(Array.from(compressed.zero)).toEqual(new Array(16).fill(-128));
    const restored = decompressProgressive(compressed);
    for (let i = 0; i < twoLevel.length; i++) expect(restored[i]).toBe(twoLevel[i] === 127 ? 127 : -128);
  });

  it('rejects a hand-made block whose code decodes outside INT8 instead of wrapping it', () => {
    const block = { ...compressProgressive(new Int8Array(16).fill(100), 1, 16, bits) };
    const packed = new Uint8Array(block.packed).fill(0xff); // every code at its largest
    expect(() => decompressProgressive({ ...block, packed, scale: new Uint8Array(16).fill(20) })).toThrow(expect.objectContaining({ code: 'ERR_QATTN_DTYPE' }));
  });

  it('packs codes at `bits` per value and reports its size', () => {
    const compressed = compressProgressive(randomBlock(64, 128, 3), 64, 128, bits);
    expect(compressed.packed.length).toBe(packedLength(64 * 128, bits));
    expect(progressiveBytes(64, 128, bits)).toBe((64 * 128 * bits) / 8 + 2 * 128);
  });

  it('does not modify its input and writes into a caller buffer', () => {
    const block = randomBlock(7, 33, 11);
    const copy = block.slice();
    const compressed = compressProgressive(block, 7, 33, bits);
    expect(block).toEqual(copy);
    const out = new Int8Array(7 * 33);
    expect(decompressProgressive(compressed, out)).toBe(out);
  });
});

describe('progressive quantization after block-wise INT8 (the KV-cache path)', () => {
  it('bounds the float error by s8 · (1/2 + ⌊scale/2⌋) per element', () => {
    const random = rng(99);
    const tokens = 64;
    const channels = 64;
    // One head, one block: channels with offsets and different spreads, like LLM keys.
    const x = Float32Array.from({ length: tokens * channels }, (_, i) => ((i % channels) % 7 === 0 ? 6 : 0) + (random() - 0.5) * (1 + (i % 5)));
    const int8 = quantize(x, { groups: 1, tokens, channels }, { bits: 8, scheme: 'symmetric', granularity: { kind: 'block', blockSize: tokens } });
    if (int8.scheme !== 'symmetric') throw new Error('unreachable');
    const s8 = int8.scales[0];
    for (const bits of [4, 2] as const) {
      const compressed = compressProgressive(int8.values, tokens, channels, bits);
      const restored = dequantize({ ...int8, values: decompressProgressive(compressed) });
      const bound = progressiveErrorBound(compressed);
      for (let i = 0; i < x.length; i++) {
        expect(Math.abs(x[i] - restored[i])).toBeLessThanOrEqual(s8 * (0.5 + bound[i % channels]) * (1 + 1e-6));
      }
    }
  });
});

describe('progressive input validation', () => {
  it('rejects bad dtypes, shapes, bits and the −128 code', () => {
    expectCode(() => compressProgressive(new Uint8Array(4) as unknown as Int8Array, 2, 2, 4), 'ERR_QATTN_DTYPE');
    expectCode(() => compressProgressive(new Int8Array(4), 3, 2, 4), 'ERR_QATTN_SHAPE');
    expectCode(() => compressProgressive(new Int8Array(4), 0, 4, 4), 'ERR_QATTN_SHAPE');
    expectCode(() => compressProgressive(new Int8Array(4), 2, 2, 8 as ProgressiveBits), 'ERR_QATTN_OPTION');
    expectCode(() => compressProgressive(Int8Array.of(0, -128), 1, 2, 4), 'ERR_QATTN_DTYPE');
    const block = compressProgressive(new Int8Array(4), 2, 2, 2);
    expectCode(() => decompressProgressive({ ...block, scale: new Uint8Array(3) }), 'ERR_QATTN_SHAPE');
    expectCode(() => decompressProgressive(block, new Int8Array(3)), 'ERR_QATTN_SHAPE');
  });
});
