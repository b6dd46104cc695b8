import { QattnError } from './errors.js';

/** Widths that pack several codes per byte. */
export type PackBits = 4 | 2;

/**
 * Code ranges packing accepts: `signed` codes are two's complement in [−2^(b−1), 2^(b−1) − 1] (int4 [−8, 7], int2
 * [−2, 1]); `unsigned` codes are in [0, 2^b − 1] (int4 [0, 15], int2 [0, 3]).
 */
export type PackSignedness = 'signed' | 'unsigned';

/** Bytes needed to pack `count` codes of `bits` bits. */
export function packedLength(count: number, bits: PackBits): number {
  return Math.ceil((count * bits) / 8);
}

function checkBits(bits: unknown): PackBits {
  if (bits !== 4 && bits !== 2) {
    throw new QattnError('ERR_QATTN_OPTION', `bits must be 4 or 2, got ${String(bits)}`, { option: 'bits', value: bits });
  }
  return bits;
}

function checkSignedness(signedness: unknown): PackSignedness {
  if (signedness !== 'signed' && signedness !== 'unsigned') {
    throw new QattnError('ERR_QATTN_OPTION', `signedness must be 'signed' or 'unsigned', got ${String(signedness)}`, {
      option: 'signedness',
      value: signedness,
    });
  }
  return signedness;
}

/**
 * Packs `bits`-bit codes, little-endian within each byte: code i goes to byte ⌊i·bits/8⌋ at bit offset
 * (i·bits) mod 8. For int4, code 2j is the low nibble (bits 0–3) and code 2j+1 the high nibble (bits 4–7) of byte j;
 * for int2, code 4j sits in bits 0–1, …, code 4j+3 in bits 6–7. Read through a little-endian `Uint32Array` view, code i
 * is at bits (i·bits) mod 32 of word ⌊i·bits/32⌋, which is how the WGSL and CUDA kernels unpack it. The unused bits
 * of a final partial byte are 0.
 *
 * Throws `ERR_QATTN_OPTION` for bad `bits`/`signedness`, `ERR_QATTN_DTYPE` when a code is outside the int`bits` range
 * (packing never silently wraps).
 */
export function packInt(codes: Int8Array | Uint8Array, bits: PackBits, signedness: PackSignedness): Uint8Array {
  checkBits(bits);
  checkSignedness(signedness);
  if (!(codes instanceof Int8Array) && !(codes instanceof Uint8Array)) {
    throw new QattnError('ERR_QATTN_DTYPE', 'packInt: codes must be an Int8Array or Uint8Array');
  }
  const low = signedness === 'signed' ? -(1 << (bits - 1)) : 0;
  const high = signedness === 'signed' ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
  const mask = (1 << bits) - 1;
  const perByte = 8 / bits;
  const packed = new Uint8Array(packedLength(codes.length, bits));
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    if (code < low || code > high) {
      throw new QattnError('ERR_QATTN_DTYPE', `packInt: codes[${i}] = ${code} is outside the ${signedness} int${bits} range [${low}, ${high}]`, {
        index: i,
        value: code,
      });
    }
    // `& mask` keeps the two's complement low bits of a negative code.
    packed[(i / perByte) | 0] |= (code & mask) << ((i % perByte) * bits);
  }
  return packed;
}

/**
 * Inverse of {@link packInt}: reads `count` codes (sign-extended when `signed`). Returns an `Int8Array` for signed
 * codes and a `Uint8Array` for unsigned ones. Throws `ERR_QATTN_SHAPE` when `packed` is too short for `count`.
 */
export function unpackInt(packed: Uint8Array, count: number, bits: PackBits, signedness: 'signed'): Int8Array;
export function unpackInt(packed: Uint8Array, count: number, bits: PackBits, signedness: 'unsigned'): Uint8Array;
export function unpackInt(packed: Uint8Array, count: number, bits: PackBits, signedness: PackSignedness): Int8Array | Uint8Array;
export function unpackInt(packed: Uint8Array, count: number, bits: PackBits, signedness: PackSignedness): Int8Array | Uint8Array {
  checkBits(bits);
  checkSignedness(signedness);
  if (!(packed instanceof Uint8Array)) {
    throw new QattnError('ERR_QATTN_DTYPE', 'unpackInt: packed must be a Uint8Array');
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `unpackInt: count must be a non-negative integer, got ${String(count)}`);
  }
  if (packed.length < packedLength(count, bits)) {
    throw new QattnError('ERR_QATTN_SHAPE', `unpackInt: ${packed.length} bytes hold fewer than ${count} int${bits} codes`, {
      length: packed.length,
      needed: packedLength(count, bits),
    });
  }
  const mask = (1 << bits) - 1;
  const perByte = 8 / bits;
  // Shifting the field to the top of a 32-bit int and arithmetic-shifting back sign-extends it.
  const signShift = 32 - bits;
  const out = signedness === 'signed' ? new Int8Array(count) : new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const field = (packed[(i / perByte) | 0] >> ((i % perByte) * bits)) & mask;
    out[i] = signedness === 'signed' ? (field << signShift) >> signShift : field;
  }
  return out;
}
