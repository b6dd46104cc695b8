import { MIN_SCALE, SAFE_SCALE, roundHalfEven } from '@qattn/quant-core';

/**
 * Quantizes one row `[n]` to symmetric INT8 with its own scale — how every new token enters the cache's buffer (a
 * decode step adds one token, and one token is all it can scale): s = max|x| / 127 in float32 ({@link SAFE_SCALE} for
 * an all-zero row), code = round(x / s) half to even, |x − code·s| ≤ s/2. Returns s.
 */
export function quantizeRowInt8(row: Float64Array, n: number, codes: Int8Array, codesOffset: number): number {
  let absMax = 0;
  for (let d = 0; d < n; d++) absMax = Math.max(absMax, Math.abs(row[d]));
  const scale = absMax === 0 ? SAFE_SCALE : Math.max(Math.fround(absMax / 127), MIN_SCALE);
  for (let d = 0; d < n; d++) {
    const code = roundHalfEven(row[d] / scale);
    // float32 rounding of s can put max|x|/s a hair above 127.
    codes[codesOffset + d] = code > 127 ? 127 : code < -127 ? -127 : code;
  }
  return scale;
}

/**
 * Re-quantizes `tokens` INT8 rows `[tokens, n]` with per-row scales to one symmetric INT8 scale for the block
 * (FlashQ's block-wise INT8, the input of progressive compression):
 *
 *   s_b = max_t (max_d |code[t, d]| · s_t) / 127     the block's largest reconstructed magnitude (float32)
 *   out = round(code · s_t / s_b)                      half to even, in [−127, 127]: at most s_b/2 more error
 *
 * Writes `[tokens, n]` into `out` and returns s_b ({@link SAFE_SCALE} for an all-zero block).
 */
export function requantizeBlockInt8(
  codes: Int8Array,
  codesOffset: number,
  scales: Float32Array,
  scalesOffset: number,
  tokens: number,
  n: number,
  out: Int8Array,
): number {
  let absMax = 0;
  for (let t = 0; t < tokens; t++) {
    const row = codesOffset + t * n;
    let codeMax = 0;
    for (let d = 0; d < n; d++) codeMax = Math.max(codeMax, Math.abs(codes[row + d]));
    absMax = Math.max(absMax, codeMax * scales[scalesOffset + t]);
  }
  const blockScale = absMax === 0 ? SAFE_SCALE : Math.max(Math.fround(absMax / 127), MIN_SCALE);
  for (let t = 0; t < tokens; t++) {
    const row = codesOffset + t * n;
    const ratio = scales[scalesOffset + t] / blockScale;
    for (let d = 0; d < n; d++) {
      const code = roundHalfEven(codes[row + d] * ratio);
      out[t * n + d] = code > 127 ? 127 : code < -127 ? -127 : code;
    }
  }
  return blockScale;
}
