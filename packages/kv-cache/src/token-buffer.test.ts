import { SAFE_SCALE } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { TokenBuffer } from './token-buffer.js';

describe('TokenBuffer', () => {
  it('quantizes each token with its own scale, within half a step', () => {
    const buffer = new TokenBuffer(2, 4, 3);
    // [groups 2, tokens 2, headDim 3]
    const source = Float32Array.of(1, -2, 0.5, 100, 50, -25, 0.1, 0.2, -0.3, 0, 0, 0);
    buffer.push(source, 2, 0);
    buffer.push(source, 2, 1);
    expect(buffer.length).toBe(2);
    expect(Array.from(buffer.scales.subarray(0, 2))).toEqual([Math.fround(2 / 127), Math.fround(100 / 127)]);
    expect(Array.from(buffer.scales.subarray(4, 6))).toEqual([Math.fround(0.3 / 127), SAFE_SCALE]);
    expect(Array.from(buffer.codes.subarray(0, 3))).toEqual([64, -127, 32]);
    for (const [group, slot, token] of [[0, 0, 0], [0, 1, 1], [1, 0, 0], [1, 1, 1]]) {
      const scale = buffer.scales[group * 4 + slot];
      for (let d = 0; d < 3; d++) {
        const x = source[(group * 2 + token) * 3 + d];
        expect(Math.abs(buffer.codes[(group * 4 + slot) * 3 + d] * scale - x)).toBeLessThanOrEqual(scale / 2);
      }
    }
  });

  it('re-quantizes to one block scale set by the largest token, within s_b/2 more, ignoring all-zero tokens', () => {
    const buffer = new TokenBuffer(1, 3, 2);
    const source = Float32Array.of(0.01, -0.02, 0, 0, 3, 1);
    for (let t = 0; t < 3; t++) buffer.push(source, 3, t);
    const out = new Int8Array(6);
    const blockScale = buffer.toBlockInt8(0, out);
    // The all-zero token's SAFE_SCALE (1) must not become the block scale: s_b = 3 / 127.
    expect(blockScale).toBe(Math.fround(3 / 127));
    expect(Array.from(out)).toEqual([0, -1, 0, 0, 127, 42]);
    for (let i = 0; i < 6; i++) {
      const tokenScale = buffer.scales[Math.floor(i / 2)];
      expect(Math.abs(out[i] * blockScale - source[i])).toBeLessThanOrEqual(tokenScale / 2 + blockScale / 2);
    }
  });

  it('gives an all-zero block SAFE_SCALE and zero codes', () => {
    const buffer = new TokenBuffer(1, 2, 2);
    buffer.push(new Float32Array(4), 2, 0);
    buffer.push(new Float32Array(4), 2, 1);
    const out = new Int8Array(4).fill(9);
    expect(buffer.toBlockInt8(0, out)).toBe(SAFE_SCALE);
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
  });
});
