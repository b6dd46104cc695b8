import { f16round } from '@petamoriken/float16';
import { describe, expect, it } from 'vitest';
import { E4M3_MAX, decodeE4m3, encodeE4m3 } from '../fp8.js';
import { SAFE_SCALE, quantize } from '../quantize.js';
import { createRng } from '../rng.js';
import { expectCode } from '../test-helpers.js';
import { quantizeRowsInt8, quantizeVFp8Channels, quantizeVInt8Tiles, roundVFp16 } from './operands.js';

const view = { groups: 3, tokens: 10, channels: 4 };
const rng = createRng(17);
const x = Float32Array.from({ length: 3 * 10 * 4 }, () => rng() * 8 - 4);

describe('quantizeRowsInt8', () => {
  it.each([{ kind: 'token' }, { kind: 'block', blockSize: 4 }, { kind: 'head' }, { kind: 'tensor' }] as const)(
    '%j: the codes of quantize(), each row with the scale of its cell',
    (granularity) => {
      const reference = quantize(x, view, { bits: 8, scheme: 'symmetric', granularity });
      const { codes, rowScales } = quantizeRowsInt8(x, view, granularity);
      expect(codes).toEqual(reference.values);
      const { groupsPerCell, tokensPerCell, shape } = reference.layout;
      for (let g = 0; g < 3; g++) {
        for (let t = 0; t < 10; t++) {
          expect(rowScales[g * 10 + t]).toBe(reference.scales[Math.floor(g / groupsPerCell) * shape[1] + Math.floor(t / tokensPerCell)]);
        }
      }
    },
  );

  it('refuses per-channel granularities (ERR_QATTN_OPTION): their scales do not factor out of Q·Kᵀ', () => {
    expectCode(() => quantizeRowsInt8(x, view, { kind: 'channel' }), 'ERR_QATTN_OPTION');
  });
});

describe('quantizeVInt8Tiles', () => {
  const dequantized = (v: ReturnType<typeof quantizeVInt8Tiles>, blockN: number) =>
    Float32Array.from(v.codes, (code, i) => {
      const row = Math.floor(i / 4);
      const tile = Math.floor((row % 10) / blockN);
      return code * v.scales[(Math.floor(row / 10) * Math.ceil(10 / blockN) + tile) * 4 + (i % 4)];
    });

  it.each([
    [{ kind: 'blockChannel', blockSize: 4 }, 4],
    [{ kind: 'block', blockSize: 4 }, 4],
    [{ kind: 'block', blockSize: 8 }, 4],
    [{ kind: 'channel' }, 3],
    [{ kind: 'head' }, 3],
  ] as const)('%j on key tiles of %i: scales expanded to (key tile, channel) decode what quantize() encodes', (granularity, blockN) => {
    const reference = quantize(x, view, { bits: 8, scheme: 'symmetric', granularity });
    const v = quantizeVInt8Tiles(x, view, granularity, blockN);
    expect(v.scales.length).toBe(3 * Math.ceil(10 / blockN) * 4);
    expect(v.codes).toEqual(reference.values);
    const expected = Float32Array.from(reference.values, (code, i) => {
      const { groupsPerCell, tokensPerCell, channelsPerCell, shape } = reference.layout;
      const row = Math.floor(i / 4);
      const cell = ((Math.floor(Math.floor(row / 10) / groupsPerCell) * shape[1] + Math.floor((row % 10) / tokensPerCell)) * shape[2]) + Math.floor((i % 4) / channelsPerCell);
      return code * reference.scales[cell];
    });
    expect(dequantized(v, blockN)).toEqual(expected);
  });

  it('refuses scale cells that split a key tile (ERR_QATTN_OPTION)', () => {
    expectCode(() => quantizeVInt8Tiles(x, view, { kind: 'token' }, 4), 'ERR_QATTN_OPTION');
    expectCode(() => quantizeVInt8Tiles(x, view, { kind: 'blockChannel', blockSize: 6 }, 4), 'ERR_QATTN_OPTION');
  });
});

describe('roundVFp16', () => {
  it('holds each value rounded to fp16, and leaves the input alone', () => {
    const before = x.slice();
    const { precision, values } = roundVFp16(x);
    expect(precision).toBe('fp16');
    expect(x).toEqual(before);
    for (let i = 0; i < x.length; i++) expect(values[i]).toBe(f16round(x[i]));
  });
});

describe('quantizeVFp8Channels', () => {
  it('scales each (group, channel) by max|v| / 448 over all tokens and rounds v / s to e4m3 (fp32 quotient, nearest even)', () => {
    const before = x.slice();
    const { precision, codes, scales } = quantizeVFp8Channels(x, view);
    expect(precision).toBe('fp8');
    expect(x).toEqual(before);
    expect(scales.length).toBe(3 * 4);
    for (let g = 0; g < 3; g++) {
      for (let c = 0; c < 4; c++) {
        let absMax = 0;
        for (let t = 0; t < 10; t++) absMax = Math.max(absMax, Math.abs(x[(g * 10 + t) * 4 + c]));
        const s = scales[g * 4 + c];
        expect(s).toBe(Math.fround(absMax / E4M3_MAX));
        let largest = 0;
        for (let t = 0; t < 10; t++) {
          const i = (g * 10 + t) * 4 + c;
          expect(codes[i]).toBe(encodeE4m3(Math.fround(x[i] / s)));
          largest = Math.max(largest, Math.abs(decodeE4m3(codes[i])));
          // e4m3 keeps 3 mantissa bits: half a step is 2^−4 of the value (normals) or 2^−10·s (subnormals).
          expect(Math.abs(decodeE4m3(codes[i]) * s - x[i])).toBeLessThanOrEqual(Math.max(Math.abs(x[i]) * 2 ** -4, 2 ** -10 * s) * (1 + 1e-6));
        }
        expect(largest).toBe(E4M3_MAX); // the channel's largest |v| uses e4m3's top code
      }
    }
  });

  it('gives an all-zero channel the safe scale and zero codes', () => {
    const zeros = new Float32Array(2 * 3 * 2).map((_, i) => (i % 2 ? 0 : i + 1));
    const { codes, scales } = quantizeVFp8Channels(zeros, { groups: 2, tokens: 3, channels: 2 });
    expect(scales[1]).toBe(SAFE_SCALE);
    expect(scales[3]).toBe(SAFE_SCALE);
    for (let i = 1; i < zeros.length; i += 2) expect(codes[i]).toBe(0);
  });
});
