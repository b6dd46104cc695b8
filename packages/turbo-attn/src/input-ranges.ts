import { assertLogitsInRange, assertSmoothingFitsFloat32, assertValuesFitInt8Dequant } from '@qattn/quant-core';
import type { TurboCall } from './backends.js';

/**
 * The value-range checks every turboAttention backend shares, beyond shape and finiteness: logits that could overflow
 * float32 (every backend computes them in f32), K/V smoothing sums that could (`smoothK`, `smoothV`, on by
 * default), and V beyond what the INT8 P·V's magic-number dequantization can scale. Both throw `ERR_QATTN_UNSUPPORTED` naming the problem, so no backend returns NaN or ±Infinity for a finite
 * input and all refuse the same calls.
 */
export function assertTurboCallRanges({ q, k, v, shape, scale, options, maxAbs }: TurboCall): void {
  assertLogitsInRange('turboAttention', q, k, shape.headDim, scale, maxAbs);
  if (options.smoothK) assertSmoothingFitsFloat32('turboAttention', 'k', k, shape.seqKV, maxAbs?.k);
  if (options.smoothV) assertSmoothingFitsFloat32('turboAttention', 'v', v, shape.seqKV, maxAbs?.v);
  assertValuesFitInt8Dequant('turboAttention', v, options.smoothV, maxAbs?.v);
}
