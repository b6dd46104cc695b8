import { QattnError, assertLogitsInRange, assertSmoothingFitsFloat32, assertValuesFitInt8Dequant, smoothChannels } from '@qattn/quant-core';
import type { FlashInt8Call } from './backends.js';

/** fp16 rounds |x| ≥ 65520 to ±Infinity (65504 is its largest finite value). */
const FLOAT16_OVERFLOW = 65520;

/**
 * The value-range checks every backend's typed-array entry shares, beyond shape and finiteness: logits beyond
 * quant-core's MAX_BASE2_LOGIT, K/V smoothing sums that could, V beyond what the INT8 P·V's magic-number dequantization can scale
 * (`pv: 'int8'`), and (`pv: 'fp16'`) V values — after smoothing, when `smoothV` is on — that fp16 cannot hold. All throw `ERR_QATTN_UNSUPPORTED` naming the problem, so no backend returns NaN or
 * ±Infinity for a finite input. `pv: 'fp8'` needs no V check: its per-channel scale max|v|/448 brings any finite fp32
 * V into e4m3's range, and nothing is dequantized through an INT32 magic-number add.
 */
export function assertCallRanges({ q, k, v, shape, scale, options, maxAbs }: FlashInt8Call): void {
  assertLogitsInRange('flashInt8Attention', q, k, shape.headDim, scale, maxAbs);
  if (options.smoothK) assertSmoothingFitsFloat32('flashInt8Attention', 'k', k, shape.seqKV, maxAbs?.k);
  if (options.smoothV) assertSmoothingFitsFloat32('flashInt8Attention', 'v', v, shape.seqKV, maxAbs?.v);
  if (options.pv === 'fp8') return;
  if (options.pv === 'int8') {
    assertValuesFitInt8Dequant('flashInt8Attention', v, options.smoothV, maxAbs?.v);
    return;
  }
  const view = { groups: shape.batch * shape.kvHeads, tokens: shape.seqKV, channels: shape.headDim };
  const source = options.smoothV ? smoothChannels(v, view).smoothed : v;
  for (let i = 0; i < source.length; i++) {
    if (Math.abs(source[i]) >= FLOAT16_OVERFLOW) {
      throw new QattnError(
        'ERR_QATTN_UNSUPPORTED',
        `flashInt8Attention: pv:'fp16' cannot represent v[${i}] = ${source[i]}${options.smoothV ? ' (after smoothing)' : ''} (fp16 max 65504); use pv:'int8'`,
        { tensor: 'v', index: i },
      );
    }
  }
}
