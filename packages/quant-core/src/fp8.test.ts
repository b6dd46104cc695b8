import { describe, expect, it } from 'vitest';
import { E4M3_MAX, E4M3_MIN_NORMAL, E4M3_MIN_SUBNORMAL, E4M3_NAN_CODE, E4M3_VALUES, decodeE4m3, encodeE4m3, roundE4m3 } from './fp8.js';

// The 127 non-negative finite values, listed independently of the decoder: code c = 8·e + m is m·2^−9 for e = 0 and
// (8 + m)·2^(e − 10) above; 0x7F is NaN.
const POSITIVE: number[] = [];
for (let code = 0; code < 0x7f; code++) {
  const e = code >> 3;
  const m = code & 7;
  POSITIVE.push(e === 0 ? m * 2 ** -9 : (8 + m) * 2 ** (e - 10));
}

/** Brute-force round-to-nearest-even with saturation, on an fp32 value: the nearest of POSITIVE, ties to the even code. */
function referenceCode(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a >= E4M3_MAX) return sign | 0x7e;
  let best = 0;
  for (let c = 1; c < POSITIVE.length; c++) {
    const d = Math.abs(POSITIVE[c] - a);
    const bestD = Math.abs(POSITIVE[best] - a);
    if (d < bestD || (d === bestD && (c & 1) === 0)) best = c;
  }
  return sign | best;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function fromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

describe('e4m3 decode', () => {
  it('gives every code the OCP E4M3 value: ±0, 2^−9 … 448, NaN only at 0x7F / 0xFF', () => {
    for (let code = 0; code < 0x7f; code++) {
      expect(decodeE4m3(code)).toBe(POSITIVE[code]);
      expect(decodeE4m3(code | 0x80)).toBe(-POSITIVE[code]);
    }
    expect(Object.is(decodeE4m3(0x80), -0)).toBe(true);
    expect(decodeE4m3(0x7f)).toBeNaN();
    expect(decodeE4m3(0xff)).toBeNaN();
    expect(E4M3_VALUES.filter(Number.isNaN).length).toBe(2);
    expect(decodeE4m3(0x7e)).toBe(E4M3_MAX);
    expect(decodeE4m3(0x01)).toBe(E4M3_MIN_SUBNORMAL);
    expect(decodeE4m3(0x08)).toBe(E4M3_MIN_NORMAL);
    for (let code = 1; code < 0x7f; code++) expect(POSITIVE[code]).toBeGreaterThan(POSITIVE[code - 1]);
  });
});

describe('e4m3 encode', () => {
  it('round-trips all 254 finite codes and ±0; NaN codes decode to NaN and NaN encodes to 0x7F', () => {
    for (let code = 0; code < 256; code++) {
      if ((code & 0x7f) === 0x7f) {
        expect(encodeE4m3(decodeE4m3(code))).toBe(E4M3_NAN_CODE);
        continue;
      }
      expect(encodeE4m3(decodeE4m3(code))).toBe(code);
    }
    expect(encodeE4m3(Number.NaN)).toBe(0x7f);
  });

  it('rounds every midpoint between neighbours to the even code, and one fp32 ulp either side to the nearer one', () => {
    for (let code = 0; code < 0x7e; code++) {
      const low = POSITIVE[code];
      const high = POSITIVE[code + 1];
      const mid = (low + high) / 2; // 5 significant bits: exact in fp32
      expect(Math.fround(mid)).toBe(mid);
      const even = code & 1 ? code + 1 : code;
      expect(encodeE4m3(mid)).toBe(even);
      expect(encodeE4m3(-mid)).toBe(0x80 | even);
      expect(encodeE4m3(fromBits(bitsOf(mid) - 1))).toBe(code);
      expect(encodeE4m3(fromBits(bitsOf(mid) + 1))).toBe(code + 1);
    }
  });

  it('saturates every finite magnitude above 448 and ±Infinity to ±448', () => {
    for (const x of [448.00003, 460, 464, 479.99, 480, 512, 1e6, 3.4028234663852886e38, Infinity]) {
      expect(encodeE4m3(x)).toBe(0x7e);
      expect(encodeE4m3(-x)).toBe(0xfe);
    }
    expect(roundE4m3(1e30)).toBe(448);
  });

  it('flushes magnitudes up to 2^−10 (the tie) to a signed zero, and rounds just above it to 2^−9', () => {
    expect(encodeE4m3(2 ** -10)).toBe(0x00);
    expect(encodeE4m3(-(2 ** -10))).toBe(0x80);
    expect(encodeE4m3(fromBits(bitsOf(2 ** -10) + 1))).toBe(0x01);
    expect(encodeE4m3(1e-45)).toBe(0x00); // an fp32 subnormal
    expect(encodeE4m3(-1e-45)).toBe(0x80);
    expect(encodeE4m3(-0)).toBe(0x80);
    expect(encodeE4m3(3 * 2 ** -10)).toBe(0x02); // tie between subnormals 1 and 2 → the even one
  });

  it('rounds a float64 argument to fp32 first, as a kernel holding it in fp32 does', () => {
    // 1.0625 is the midpoint of 1 (0x38) and 1.125 (0x39); the float64 above it rounds to it in fp32, then ties to even.
    const justAbove = 1.0625 + 2 ** -40;
    expect(Math.fround(justAbove)).toBe(1.0625);
    expect(encodeE4m3(justAbove)).toBe(0x38);
  });

  it('agrees with a brute-force nearest-even search over a sweep of fp32 bit patterns', () => {
    // Every 997th positive pattern over all of fp32 (±, denormals through Infinity), plus every pattern within 64 ulps
    // of each e4m3 value and midpoint.
    const patterns: number[] = [];
    for (let bits = 0; bits <= 0x7f800000; bits += 997 * 1024) patterns.push(bits);
    for (let code = 0; code < 0x7f; code++) {
      for (const center of [POSITIVE[code], code < 0x7e ? (POSITIVE[code] + POSITIVE[code + 1]) / 2 : 464]) {
        const c = bitsOf(center);
        for (let d = -64; d <= 64; d++) if (c + d >= 0) patterns.push(c + d);
      }
    }
    let checked = 0;
    for (const bits of patterns) {
      for (const signBit of [0, 0x80000000]) {
        const x = fromBits(bits | signBit);
        if (encodeE4m3(x) !== referenceCode(x)) expect.fail(`x = ${x} (bits 0x${(bits | signBit).toString(16)}): ${encodeE4m3(x)} ≠ ${referenceCode(x)}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60_000);
  });
});
