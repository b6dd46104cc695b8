import { type TensorView, quantize } from '@qattn/quant-core';

/** Q or K as symmetric INT8 codes with one float32 scale per row, whatever the granularity they were quantized at. */
export interface Int8Rows {
  /** [groups, tokens, channels] codes in [−127, 127]. */
  codes: Int8Array;
  /** [groups, tokens]: the scale of each row (a block's scale repeated over its rows for `'block'` granularity). */
  rowScales: Float32Array;
}

/**
 * Quantizes Q or K to INT8 per token (the paper) or per block of `blockSize` tokens. Block scales are expanded to one
 * scale per row so the Q·Kᵀ tile loop is the same for both granularities: granularity only changes this pre-pass.
 */
export function quantizeQkInt8(x: Float32Array, view: TensorView, granularity: 'token' | 'block', blockSize: number): Int8Rows {
  const quantized = quantize(x, view, {
    bits: 8,
    scheme: 'symmetric',
    granularity: granularity === 'token' ? { kind: 'token' } : { kind: 'block', blockSize },
  });
  if (quantized.scheme !== 'symmetric') throw new Error('unreachable: symmetric quantization requested');
  const { layout, scales } = quantized;
  const cellsPerGroup = layout.shape[1];
  const rowScales = new Float32Array(view.groups * view.tokens); // [groups, tokens]
  for (let g = 0; g < view.groups; g++) {
    for (let t = 0; t < view.tokens; t++) {
      rowScales[g * view.tokens + t] = scales[g * cellsPerGroup + Math.floor(t / layout.tokensPerCell)];
    }
  }
  return { codes: quantized.values, rowScales };
}
