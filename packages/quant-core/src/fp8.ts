// OCP FP8 E4M3 ("e4m3fn", the format of Hopper's FP8 wgmma and of __nv_fp8_e4m3): 1 sign bit, 4 exponent bits with
// bias 7, 3 mantissa bits; no infinities; S.1111.111 is NaN, so the largest finite value is 1.75·2^8 = 448 (S.1111.110);
// exponent field 0 holds subnormals m·2^−9 (m = 1…7), the smallest 2^−9. No npm package converts it exactly (checked
// the registry and the workspace's package list), and it is product quantization math, so it is written here.

/** Largest finite e4m3 magnitude: 1.75 · 2^8. */
export const E4M3_MAX = 448;

/** Smallest positive e4m3 value (a subnormal): 2^−9. */
export const E4M3_MIN_SUBNORMAL = 2 ** -9;

/** Smallest positive normal e4m3 value: 2^−6. */
export const E4M3_MIN_NORMAL = 2 ** -6;

/** The code {@link encodeE4m3} returns for NaN: 0x7F (positive sign), as `cvt.rn.satfinite.e4m3x2.f32` does. */
export const E4M3_NAN_CODE = 0x7f;

/** Code of +448 (S=0, exponent 15, mantissa 6). */
const E4M3_MAX_CODE = 0x7e;

function decodeSlow(code: number): number {
  const sign = code & 0x80 ? -1 : 1;
  const exponent = (code >> 3) & 0xf;
  const mantissa = code & 0x7;
  if (exponent === 0xf && mantissa === 0x7) return Number.NaN;
  if (exponent === 0) return sign * mantissa * E4M3_MIN_SUBNORMAL;
  return sign * (1 + mantissa / 8) * 2 ** (exponent - 7);
}

/** Every code's value: `E4M3_VALUES[code]` (exact in fp32; codes 0x7F and 0xFF are NaN, 0x80 is −0). */
export const E4M3_VALUES: Float32Array = Float32Array.from({ length: 256 }, (_, code) => decodeSlow(code));

/** The value of an e4m3 code (0…255): NaN for 0x7F and 0xFF, −0 for 0x80. */
export function decodeE4m3(code: number): number {
  return E4M3_VALUES[code & 0xff];
}

// Scratch for reading a float32's bits (one pair per module: the functions below are synchronous).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Rounds `x` to e4m3 and returns its code (0…255), as CUDA's `__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3)`
 * (PTX `cvt.rn.satfinite.e4m3x2.f32`) does for an fp32 input:
 *
 * 1. `x` is first rounded to fp32 (`Math.fround`, round to nearest even): the encoder is defined on fp32 inputs, so
 *    a float64 argument is rounded twice, exactly as a kernel that holds it in fp32 would.
 * 2. Round to nearest, ties to even (the code with mantissa LSB 0), over all 254 finite codes; results below half the
 *    smallest subnormal (2^−10, a tie at 2^−10 included) become ±0, keeping the sign.
 * 3. Saturation: every finite |x| > 448 and ±Infinity give ±448 (0x7E / 0xFE): there is no infinity to round to.
 * 4. NaN gives {@link E4M3_NAN_CODE} (0x7F).
 */
export function encodeE4m3(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 24) & 0x80;
  const magnitudeBits = bits & 0x7fffffff;
  if (magnitudeBits > 0x7f800000) return E4M3_NAN_CODE;
  const magnitude = Math.abs(f32[0]);
  if (magnitude >= E4M3_MAX) return sign | E4M3_MAX_CODE;
  const exponent = (magnitudeBits >>> 23) - 127;
  if (exponent < -6) {
    // Subnormal range (fp32 subnormals included): steps of 2^−9, so the code is the rounded number of steps. The
    // product is exact in float64; 8 steps is the smallest normal, whose code is also 8 (exponent 1, mantissa 0).
    const steps = magnitude * 512;
    let code = Math.floor(steps);
    const rest = steps - code;
    if (rest > 0.5 || (rest === 0.5 && code & 1)) code++;
    return sign | code;
  }
  // Normal: keep the top 3 of fp32's 23 mantissa bits, round the other 20 half to even. A carry out of the mantissa
  // moves to the next exponent by itself (code + 1 where the mantissa was 7); |x| < 448 cannot carry past 0x7E.
  const mantissa = magnitudeBits & 0x7fffff;
  let code = ((exponent + 7) << 3) | (mantissa >>> 20);
  const rest = mantissa & 0xfffff;
  if (rest > 0x80000 || (rest === 0x80000 && code & 1)) code++;
  return sign | code;
}

/** `x` rounded to the nearest e4m3 value ({@link encodeE4m3}, then {@link decodeE4m3}); NaN stays NaN. */
export function roundE4m3(x: number): number {
  return E4M3_VALUES[encodeE4m3(x)];
}
