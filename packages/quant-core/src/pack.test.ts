import { describe, expect, it } from 'vitest';
import { packInt, packedLength, unpackInt, type PackBits } from './pack.js';
import { quantize, type QuantBits } from './quantize.js';
import { createRng } from './rng.js';
import { expectCode } from './test-helpers.js';

describe('packInt / unpackInt', () => {
  it('documents the nibble order: code 2j low nibble, 2j+1 high nibble', () => {
    expect(Array.from(packInt(new Uint8Array([0x1, 0x2, 0x3, 0xf, 0x7]), 4, 'unsigned'))).toEqual([0x21, 0xf3, 0x07]);
    expect(Array.from(packInt(new Int8Array([-1, 7, -8]), 4, 'signed'))).toEqual([0x7f, 0x08]);
    // int2: code 4j in bits 0–1 … code 4j+3 in bits 6–7.
    expect(Array.from(packInt(new Uint8Array([1, 2, 3, 0, 3]), 2, 'unsigned'))).toEqual([0b00_11_10_01, 0b11]);
    expect(Array.from(packInt(new Int8Array([-2, -1, 0, 1]), 2, 'signed'))).toEqual([0b01_00_11_10]);
  });

  it('matches a little-endian Uint32 view: code i at bits 4·(i mod 8) of word ⌊i/8⌋', () => {
    const codes = new Uint8Array(16).map((_, i) => i);
    const words = new Uint32Array(packInt(codes, 4, 'unsigned').buffer);
    for (let i = 0; i < 16; i++) expect((words[i >> 3] >>> ((i & 7) * 4)) & 0xf).toBe(i);
  });

  it('is lossless for every width, signedness and length (seeded)', () => {
    const rng = createRng(11);
    for (let trial = 0; trial < 400; trial++) {
      const bits: PackBits = trial % 2 === 0 ? 4 : 2;
      const length = Math.floor(rng() * 70);
      const signed = trial % 4 < 2;
      const levels = 1 << bits;
      const codes = signed
        ? new Int8Array(length).map(() => Math.floor(rng() * levels) - levels / 2)
        : new Uint8Array(length).map(() => Math.floor(rng() * levels));
      const packed = packInt(codes, bits, signed ? 'signed' : 'unsigned');
      expect(packed.length).toBe(packedLength(length, bits));
      const unpacked = unpackInt(packed, length, bits, signed ? 'signed' : 'unsigned');
      expect(unpacked.constructor).toBe(codes.constructor);
      expect(Array.from(unpacked)).toEqual(Array.from(codes));
    }
  });

  it('round-trips quantize() codes of every width (symmetric and asymmetric)', () => {
    const rng = createRng(5);
    const x = new Float32Array(99).map(() => rng() * 4 - 2);
    const view = { groups: 3, tokens: 11, channels: 3 };
    for (const bits of [4, 2] as Array<QuantBits & PackBits>) {
      const sym = quantize(x, view, { bits, scheme: 'symmetric', granularity: { kind: 'channel' } });
      if (sym.scheme !== 'symmetric') throw new Error('unreachable');
      expect(Array.from(unpackInt(packInt(sym.values, bits, 'signed'), 99, bits, 'signed'))).toEqual(Array.from(sym.values));
      const asym = quantize(x, view, { bits, scheme: 'asymmetric', granularity: { kind: 'blockChannel', blockSize: 4 } });
      if (asym.scheme !== 'asymmetric') throw new Error('unreachable');
      expect(Array.from(unpackInt(packInt(asym.values, bits, 'unsigned'), 99, bits, 'unsigned'))).toEqual(Array.from(asym.values));
    }
  });

  it('rejects out-of-range codes instead of wrapping', () => {
    expectCode(() => packInt(new Int8Array([8]), 4, 'signed'), 'ERR_QATTN_DTYPE');
    expectCode(() => packInt(new Int8Array([-9]), 4, 'signed'), 'ERR_QATTN_DTYPE');
    expectCode(() => packInt(new Uint8Array([16]), 4, 'unsigned'), 'ERR_QATTN_DTYPE');
    expectCode(() => packInt(new Int8Array([-3]), 2, 'signed'), 'ERR_QATTN_DTYPE');
    expectCode(() => packInt(new Uint8Array([4]), 2, 'unsigned'), 'ERR_QATTN_DTYPE');
  });

  it('rejects bad arguments', () => {
    expectCode(() => packInt(new Uint8Array(2), 3 as PackBits, 'unsigned'), 'ERR_QATTN_OPTION');
    expectCode(() => packInt(new Uint8Array(2), 4, 'both' as 'signed'), 'ERR_QATTN_OPTION');
    expectCode(() => packInt([1, 2] as unknown as Uint8Array, 4, 'unsigned'), 'ERR_QATTN_DTYPE');
    expectCode(() => unpackInt(new Uint8Array(1), 3, 4, 'unsigned'), 'ERR_QATTN_SHAPE');
    expectCode(() => unpackInt(new Uint8Array(1), -1, 4, 'unsigned'), 'ERR_QATTN_SHAPE');
    expectCode(() => unpackInt(new Uint8Array(1), 1, 8 as PackBits, 'unsigned'), 'ERR_QATTN_OPTION');
  });
});
