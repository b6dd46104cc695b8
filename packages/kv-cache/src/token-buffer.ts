import { MIN_SCALE, SAFE_SCALE, roundHalfEven } from '@qattn/quant-core';

/**
 * TurboAttention's enhanced KV buffer for one tensor (K or V): the newest tokens, not yet a full block, kept as INT8
 * with one symmetric scale per token and head — a decode step adds one token, and one token is all it can scale.
 *
 * Layout: codes `[groups, blockSize, headDim]` (groups = batch · kvHeads), scales `[groups, blockSize]`; tokens
 * [0, length) of every group are filled.
 */
export class TokenBuffer {
  readonly codes: Int8Array; // [groups, blockSize, headDim]
  readonly scales: Float32Array; // [groups, blockSize]
  length = 0;

  constructor(
    readonly groups: number,
    readonly blockSize: number,
    readonly headDim: number,
  ) {
    this.codes = new Int8Array(groups * blockSize * headDim);
    this.scales = new Float32Array(groups * blockSize);
  }

  /**
   * Writes token `token` of `source` (`[groups, tokens, headDim]`, row-major) as the next buffered token:
   * s = max_d |x| / 127 (float32; {@link SAFE_SCALE} for an all-zero token), code = round(x / s), half to even.
   * The caller flushes before the buffer overflows.
   */
  push(source: Float32Array, tokens: number, token: number): void {
    const { groups, blockSize, headDim } = this;
    const slot = this.length;
    for (let g = 0; g < groups; g++) {
      const sourceRow = (g * tokens + token) * headDim;
      let absMax = 0;
      for (let d = 0; d < headDim; d++) absMax = Math.max(absMax, Math.abs(source[sourceRow + d]));
      const scale = absMax === 0 ? SAFE_SCALE : Math.max(Math.fround(absMax / 127), MIN_SCALE);
      this.scales[g * blockSize + slot] = scale;
      const codeRow = (g * blockSize + slot) * headDim;
      for (let d = 0; d < headDim; d++) {
        const code = roundHalfEven(source[sourceRow + d] / scale);
        // float32 rounding of s can put max|x|/s a hair above 127.
        this.codes[codeRow + d] = code > 127 ? 127 : code < -127 ? -127 : code;
      }
    }
    this.length++;
  }

  /**
   * Re-quantizes group `g`'s buffered tokens to one symmetric INT8 scale for the whole block (FlashQ's block-wise
   * INT8, the input of progressive compression):
   *
   *   s_b = max_t (max_d |code_t| · s_t) / 127       (the block's largest reconstructed magnitude; float32)
   *   out = round(code_t · s_t / s_b)                 half to even, in [−127, 127]
   *
   * which adds at most s_b / 2 of error. Writes `[blockSize, headDim]` codes into `out` and returns s_b
   * ({@link SAFE_SCALE} when the block is all zeros).
   */
  toBlockInt8(g: number, out: Int8Array): number {
    const { blockSize, headDim } = this;
    let absMax = 0;
    for (let t = 0; t < this.length; t++) {
      const row = (g * blockSize + t) * headDim;
      let codeMax = 0;
      for (let d = 0; d < headDim; d++) codeMax = Math.max(codeMax, Math.abs(this.codes[row + d]));
      absMax = Math.max(absMax, codeMax * this.scales[g * blockSize + t]);
    }
    const blockScale = absMax === 0 ? SAFE_SCALE : Math.max(Math.fround(absMax / 127), MIN_SCALE);
    for (let t = 0; t < this.length; t++) {
      const row = (g * blockSize + t) * headDim;
      const ratio = this.scales[g * blockSize + t] / blockScale;
      for (let d = 0; d < headDim; d++) {
        const code = roundHalfEven(this.codes[row + d] * ratio);
        out[t * headDim + d] = code > 127 ? 127 : code < -127 ? -127 : code;
      }
    }
    return blockScale;
  }
}
