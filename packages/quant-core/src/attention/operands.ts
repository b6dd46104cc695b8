import { f16round } from '@petamoriken/float16';
import { QattnError } from '../errors.js';
import { E4M3_MAX, encodeE4m3 } from '../fp8.js';
import { type Granularity, MIN_SCALE, SAFE_SCALE, type SymmetricQuantized, type TensorView, quantize } from '../quantize.js';
import { tileCount } from './key-tile-schedule.js';

/**
 * Q or K in the one form the tile loop reads: symmetric INT8 codes with one fp32 scale per row, whatever granularity
 * they were quantized at (a block's or a head's scale is repeated over its rows, so granularity only changes the
 * pre-pass).
 */
export interface Int8Rows {
  /** [groups, tokens, channels] codes in [−127, 127]. */
  codes: Int8Array;
  /** [groups, tokens]: the scale of each row. */
  rowScales: Float32Array;
}

/** V for `pv: 'int8'`: INT8 codes with one fp32 scale per (group, key tile, channel). */
export interface Int8TileV {
  precision: 'int8';
  /** [groups, tokens, channels] codes in [−127, 127]. */
  codes: Int8Array;
  /** [groups, ⌈tokens / blockN⌉, channels]: the scale of each (key tile, channel), expanded from V's granularity. */
  scales: Float32Array;
  /** The key tile the scales are laid out on; must equal the loop's `blockN`. */
  blockN: number;
}

/** V for `pv: 'fp16'`: fp16 values held in fp32, `[groups, tokens, channels]`. */
export interface Fp16V {
  precision: 'fp16';
  values: Float32Array;
}

/**
 * V for `pv: 'fp8'` (CPU only): OCP e4m3 codes (quant-core's `encodeE4m3`) with one fp32 scale per (group, channel)
 * over all tokens, so the scale factors out of the whole row's P·V and is applied once, in the epilogue.
 */
export interface Fp8V {
  precision: 'fp8';
  /** [groups, tokens, channels] e4m3 codes: v ≈ decodeE4m3(code) · scale. */
  codes: Uint8Array;
  /** [groups, channels]: max|v| over the group's tokens / 448. */
  scales: Float32Array;
}

/**
 * The operands of {@link attnFwdQuantizedCpu}, normalized so one loop serves every granularity and paper. Groups are
 * batch·heads for q and batch·kvHeads for k and v.
 */
export interface QuantizedAttentionOperands {
  /** [batch, heads, seqQ, headDim] codes, [batch, heads, seqQ] scales. */
  q: Int8Rows;
  /** [batch, kvHeads, seqKV, headDim] codes, [batch, kvHeads, seqKV] scales (K smoothing, if any, already applied). */
  k: Int8Rows;
  /** [batch, kvHeads, seqKV, headDim]; its precision must match the variant's `pv`. */
  v: Int8TileV | Fp16V | Fp8V;
  /** The per-channel means subtracted from V before quantizing it, `[batch, kvHeads, headDim]`, added back to the output; or null. */
  vMeans: Float32Array | null;
}

function symmetricInt8(x: Float32Array, view: TensorView, granularity: Granularity): SymmetricQuantized {
  return quantize(x, view, { bits: 8, scheme: 'symmetric', granularity }) as SymmetricQuantized;
}

/**
 * Quantizes Q or K (`[groups, tokens, channels]`) to symmetric INT8 at a granularity with one scale per row or more
 * (`'token'`, `'block'`, `'head'`, `'tensor'`) and expands the scales to one per row. Rounding: half to even.
 * Throws `ERR_QATTN_OPTION` for a per-channel granularity (its scales would not factor out of Q·Kᵀ).
 */
export function quantizeRowsInt8(x: Float32Array, view: TensorView, granularity: Granularity): Int8Rows {
  if (granularity.kind === 'channel' || granularity.kind === 'blockChannel') {
    throw new QattnError('ERR_QATTN_OPTION', `quantizeRowsInt8: granularity '${granularity.kind}' has per-channel scales; Q and K need one scale per row`, {
      option: 'granularity',
      value: granularity.kind,
    });
  }
  const { values, scales, layout } = symmetricInt8(x, view, granularity);
  const cellsT = layout.shape[1];
  const rowScales = new Float32Array(view.groups * view.tokens); // [groups, tokens]
  for (let g = 0; g < view.groups; g++) {
    const groupCell = Math.floor(g / layout.groupsPerCell) * cellsT;
    for (let t = 0; t < view.tokens; t++) rowScales[g * view.tokens + t] = scales[groupCell + Math.floor(t / layout.tokensPerCell)];
  }
  return { codes: values, rowScales };
}

/**
 * Quantizes V (`[groups, tokens, channels]`) to symmetric INT8 at `granularity` and expands its scales to one per
 * (group, key tile of `blockN` keys, channel), the single form the P·V stage reads: a per-block scale is repeated over
 * the channels, a per-head or per-channel one over the key tiles. Rounding: half to even.
 * Throws `ERR_QATTN_OPTION` when a scale cell would split a key tile (`'token'`, or blocks that are not a multiple of
 * `blockN`): its scale would not factor out of the tile's P̂·V̂.
 */
export function quantizeVInt8Tiles(v: Float32Array, view: TensorView, granularity: Granularity, blockN: number): Int8TileV {
  const tokensPerCell = granularity.kind === 'token' ? 1 : 'blockSize' in granularity ? granularity.blockSize : view.tokens;
  if (tokensPerCell < view.tokens && tokensPerCell % blockN !== 0) {
    throw new QattnError('ERR_QATTN_OPTION', `quantizeVInt8Tiles: V scale cells of ${tokensPerCell} tokens split key tiles of ${blockN}`, {
      option: 'granularity',
      value: granularity.kind,
    });
  }
  const { values, scales, layout } = symmetricInt8(v, view, granularity);
  const { groups, tokens, channels } = view;
  const [, cellsT, cellsC] = layout.shape;
  const keyTiles = tileCount(tokens, blockN);
  const tileScales = new Float32Array(groups * keyTiles * channels); // [groups, keyTiles, channels]
  for (let g = 0; g < groups; g++) {
    const groupCell = Math.floor(g / layout.groupsPerCell) * cellsT;
    for (let t = 0; t < keyTiles; t++) {
      const rowCell = (groupCell + Math.floor((t * blockN) / layout.tokensPerCell)) * cellsC;
      for (let c = 0; c < channels; c++) tileScales[(g * keyTiles + t) * channels + c] = scales[rowCell + Math.floor(c / layout.channelsPerCell)];
    }
  }
  return { precision: 'int8', codes: values, scales: tileScales, blockN };
}

/**
 * V rounded to fp16 once (values held in fp32), for `pv: 'fp16'`. The caller refuses values beyond fp16's range
 * first; they would round to ±Infinity.
 */
export function roundVFp16(v: Float32Array): Fp16V {
  const values = new Float32Array(v.length); // [groups, tokens, channels]
  for (let i = 0; i < v.length; i++) values[i] = f16round(v[i]);
  return { precision: 'fp16', values };
}

/**
 * Quantizes V (`[groups, tokens, channels]`) to OCP e4m3 per (group, channel), for `pv: 'fp8'`. In this order:
 *
 * 1. s[g, c] = max|v[g, :, c]| / 448, rounded to fp32 (the division in float64 of an exact maximum); an all-zero
 *    channel gets {@link SAFE_SCALE} (codes 0); a scale below fp32's smallest normal is raised to {@link MIN_SCALE}.
 * 2. code = e4m3(fp32(v / s)): the quotient rounded to fp32 (a correctly rounded fp32 division, `__fdiv_rn`, not a
 *    multiply by 1/s), then {@link encodeE4m3} (nearest even, saturating to ±448, which only catches the last-ulp
 *    overshoot of the rounded scale).
 *
 * The caller has checked V is finite.
 */
export function quantizeVFp8Channels(v: Float32Array, view: TensorView): Fp8V {
  const { groups, tokens, channels } = view;
  const scales = new Float32Array(groups * channels); // [groups, channels]
  const codes = new Uint8Array(v.length); // [groups, tokens, channels]
  for (let g = 0; g < groups; g++) {
    const scaleRow = g * channels;
    const first = g * tokens * channels;
    for (let t = 0; t < tokens; t++) {
      const row = first + t * channels;
      for (let c = 0; c < channels; c++) {
        const magnitude = Math.abs(v[row + c]);
        if (magnitude > scales[scaleRow + c]) scales[scaleRow + c] = magnitude;
      }
    }
    for (let c = 0; c < channels; c++) {
      const absMax = scales[scaleRow + c];
      scales[scaleRow + c] = absMax === 0 ? SAFE_SCALE : Math.max(Math.fround(absMax / E4M3_MAX), MIN_SCALE);
    }
    for (let t = 0; t < tokens; t++) {
      const row = first + t * channels;
      for (let c = 0; c < channels; c++) codes[row + c] = encodeE4m3(Math.fround(v[row + c] / scales[scaleRow + c]));
    }
  }
  return { precision: 'fp8', codes, scales };
}
