import {
  type Granularity,
  type QuantizedAttentionOperands,
  type ResolvedShape,
  type TensorView,
  quantizeRowsInt8,
  quantizeVFp8Channels,
  quantizeVInt8Tiles,
  roundVFp16,
  smoothChannels,
  smoothK,
} from '@qattn/quant-core';
import type { ResolvedFlashInt8Options } from '../options.js';
import { rotateRows } from './hadamard.js';

/** `qkGranularity` → the granularity of Q's (block of blockM queries) or K's (block of blockN keys) scales. */
function qkGranularity(options: ResolvedFlashInt8Options, blockSize: number): Granularity {
  return options.qkGranularity === 'token' ? { kind: 'token' } : { kind: 'block', blockSize };
}

/** `vGranularity` → quant-core granularity of V's scales (a block is one key tile). */
const V_GRANULARITY: Record<ResolvedFlashInt8Options['vGranularity'], (blockN: number) => Granularity> = {
  head: () => ({ kind: 'head' }),
  channel: () => ({ kind: 'channel' }),
  blockChannel: (blockN) => ({ kind: 'blockChannel', blockSize: blockN }),
};

/** V in the form of each `pv` precision (`vSource` already smoothed when asked). */
const V_OPERAND: Record<ResolvedFlashInt8Options['pv'], (vSource: Float32Array, view: TensorView, options: ResolvedFlashInt8Options) => QuantizedAttentionOperands['v']> = {
  int8: (vSource, view, options) => quantizeVInt8Tiles(vSource, view, V_GRANULARITY[options.vGranularity](options.blockN), options.blockN),
  // No value overflows fp16: flashInt8Attention refuses V beyond fp16's range before any backend runs (input-ranges.ts).
  fp16: (vSource) => roundVFp16(vSource),
  fp8: (vSource, view) => quantizeVFp8Channels(vSource, view),
};

/**
 * INT-FlashAttention's pre-pass (docs/ALGORITHMS.md §1), in the operand form of quant-core's tile loop: optional K
 * smoothing, then the optional Hadamard rotation of Q and K (a flash-int8 option: exact, spreads outlier channels),
 * then Q and K to INT8 per token or per block (block scales repeated over their rows); V smoothed if asked, then to
 * INT8 at `vGranularity` (scales expanded to every key tile and channel), rounded to fp16 for `pv: 'fp16'`, or to
 * e4m3 with one scale per (batch, kvHead, channel) over all keys for `pv: 'fp8'`.
 * The inputs are not modified.
 */
export function quantizeFlashInt8(q: Float32Array, k: Float32Array, v: Float32Array, shape: ResolvedShape, options: ResolvedFlashInt8Options): QuantizedAttentionOperands {
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
  const { blockM, blockN } = options;
  const qView = { groups: batch * heads, tokens: seqQ, channels: headDim };
  const kvView = { groups: batch * kvHeads, tokens: seqKV, channels: headDim };
  const kSmoothed = options.smoothK ? smoothK(k, shape).smoothed : k;
  const qSource = options.hadamard ? rotateRows(q, headDim) : q;
  const kSource = options.hadamard ? rotateRows(kSmoothed, headDim) : kSmoothed;
  const vSmoothed = options.smoothV ? smoothChannels(v, kvView) : null;
  const vSource = vSmoothed ? vSmoothed.smoothed : v;
  return {
    q: quantizeRowsInt8(qSource, qView, qkGranularity(options, blockM)),
    k: quantizeRowsInt8(kSource, kvView, qkGranularity(options, blockN)),
    v: V_OPERAND[options.pv](vSource, kvView, options),
    vMeans: vSmoothed ? vSmoothed.means : null,
  };
}
