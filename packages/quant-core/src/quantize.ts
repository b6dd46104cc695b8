import { QattnError } from './errors.js';

/**
 * How a flat row-major tensor is viewed for quantization: `[groups, tokens, channels]`, where `groups` folds every
 * leading dimension (for attention tensors: batch · heads, or batch · kvHeads for k/v), `tokens` is the sequence
 * dimension and `channels` the head dimension.
 */
export interface TensorView {
  groups: number;
  tokens: number;
  channels: number;
}

/** Integer widths quant-core produces. */
export type QuantBits = 8 | 4 | 2;

/**
 * Which elements share one scale. Granularity is data: each kind says, per axis of the `[groups, tokens, channels]`
 * view, whether that axis is split per index, split into blocks, or reduced over (see {@link scaleLayout}).
 *
 * | kind            | one scale per                          | scale grid `[G, T, C]`               |
 * |-----------------|----------------------------------------|--------------------------------------|
 * | `tensor`        | whole tensor                           | `[1, 1, 1]`                          |
 * | `head`          | group (batch·head)                     | `[groups, 1, 1]`                     |
 * | `token`         | (group, token)                         | `[groups, tokens, 1]`                |
 * | `block`         | (group, block of `blockSize` tokens)   | `[groups, ⌈tokens/blockSize⌉, 1]`    |
 * | `channel`       | (group, channel), over all tokens      | `[groups, 1, channels]`              |
 * | `blockChannel`  | (group, token block, channel)          | `[groups, ⌈tokens/blockSize⌉, channels]` |
 */
export type Granularity =
  | { kind: 'tensor' }
  | { kind: 'head' }
  | { kind: 'token' }
  | { kind: 'block'; blockSize: number }
  | { kind: 'channel' }
  | { kind: 'blockChannel'; blockSize: number };

/**
 * `symmetric`: codes in [−(2^(b−1) − 1), 2^(b−1) − 1] (int8: [−127, 127], int4: [−7, 7], int2: [−1, 1]), x̂ = q·s,
 * s = max|x| / qmax. The code −2^(b−1) is never produced, so negation is closed and zero is exact.
 *
 * `asymmetric`: codes in [0, 2^b − 1], x̂ = q·s + z with the float offset z = min(x) of the cell and
 * s = (max − min) / (2^b − 1). Both ends of the range (and constant cells) round-trip exactly.
 */
export type QuantScheme = 'symmetric' | 'asymmetric';

/** What to quantize to. */
export interface QuantSpec {
  bits: QuantBits;
  scheme: QuantScheme;
  granularity: Granularity;
}

/**
 * Where the scales live. Scales (and zeros) are a row-major grid `shape = [G, T, C]`; element `(g, t, c)` of the
 * view uses cell `(⌊g / groupsPerCell⌋ · T + ⌊t / tokensPerCell⌋) · C + ⌊c / channelsPerCell⌋`.
 */
export interface ScaleLayout {
  /** `[G, T, C]`: cells along groups, tokens and channels. */
  shape: readonly [number, number, number];
  groupsPerCell: number;
  tokensPerCell: number;
  channelsPerCell: number;
  /** G · T · C. */
  cells: number;
}

interface QuantizedBase {
  view: TensorView;
  bits: QuantBits;
  granularity: Granularity;
  layout: ScaleLayout;
  /** One positive, finite float32 scale per cell of {@link ScaleLayout}; never 0. */
  scales: Float32Array;
}

/** A symmetrically quantized tensor: one signed code per element (unpacked; see `packInt`), row-major as the input. */
export interface SymmetricQuantized extends QuantizedBase {
  scheme: 'symmetric';
  values: Int8Array;
}

/** An asymmetrically quantized tensor: one unsigned code per element plus a float offset per cell. */
export interface AsymmetricQuantized extends QuantizedBase {
  scheme: 'asymmetric';
  values: Uint8Array;
  /** The value code 0 decodes to, per cell (the cell's minimum), laid out like `scales`. */
  zeros: Float32Array;
}

/** Result of {@link quantize}. */
export type Quantized = SymmetricQuantized | AsymmetricQuantized;

/**
 * The scale used when a cell carries no magnitude (all zeros for symmetric, constant for asymmetric). Every code then
 * decodes back exactly (q = 0 → 0, or q = 0 → z), so any positive value works; 1 keeps 1/s exact and finite.
 */
export const SAFE_SCALE = 1;

/**
 * Smallest normal float32 (2^−126). A scale that would underflow below it (inputs near the denormal range) is raised
 * to it: codes stay in range because the input is then below one step, and 1/s stays finite in float32.
 */
export const MIN_SCALE = 2 ** -126;

// Adding and subtracting 1.5·2^52 forces a float64 to an integer with the FPU's default rounding, round-half-to-even,
// for |x| < 2^51. JS engines may not reassociate (x + M) − M, so this is exact and branch-free.
const ROUND_MAGIC = 6755399441055744;

/**
 * Rounds to the nearest integer, ties to even (2.5 → 2, 3.5 → 4, −2.5 → −2). This is IEEE-754 roundTiesToEven, the
 * rounding of CUDA `__float2int_rn` / `rintf` and of WGSL `round()`, so the CPU oracle and the GPU kernels produce the
 * same codes for the same float inputs. (`Math.round` rounds ties toward +∞ and would disagree on exact halves.)
 */
export function roundHalfEven(x: number): number {
  return Math.abs(x) < 2 ** 51 ? x + ROUND_MAGIC - ROUND_MAGIC : x;
}

/** Largest code magnitude of a symmetric scheme: 2^(bits−1) − 1 (int8 127, int4 7, int2 1). */
export function symmetricMax(bits: QuantBits): number {
  return (1 << (bits - 1)) - 1;
}

/** Largest code of an asymmetric scheme: 2^bits − 1 (int8 255, int4 15, int2 3). */
export function asymmetricMax(bits: QuantBits): number {
  return (1 << bits) - 1;
}

/** Per-axis extent of one cell: reduce the axis whole (`'all'`), split it per index (`1`), or in blocks. */
type AxisExtent = 'all' | number;

/** The granularity table: how each kind cuts the `[groups, tokens, channels]` axes. Adding a kind = adding a row. */
function cellExtents(granularity: Granularity): readonly [AxisExtent, AxisExtent, AxisExtent] {
  switch (granularity.kind) {
    case 'tensor':
      return ['all', 'all', 'all'];
    case 'head':
      return [1, 'all', 'all'];
    case 'token':
      return [1, 1, 'all'];
    case 'block':
      return [1, granularity.blockSize, 'all'];
    case 'channel':
      return [1, 'all', 1];
    case 'blockChannel':
      return [1, granularity.blockSize, 1];
  }
}

const GRANULARITY_KINDS = ['tensor', 'head', 'token', 'block', 'channel', 'blockChannel'] as const;

function checkPositiveInteger(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `${what} must be a positive integer, got ${String(value)} (view [groups, tokens, channels])`, {
      dimension: what,
      value,
    });
  }
  return value;
}

function checkView(view: TensorView): TensorView {
  if (typeof view !== 'object' || view === null) {
    throw new QattnError('ERR_QATTN_SHAPE', 'view must be an object {groups, tokens, channels}');
  }
  return {
    groups: checkPositiveInteger('view.groups', view.groups),
    tokens: checkPositiveInteger('view.tokens', view.tokens),
    channels: checkPositiveInteger('view.channels', view.channels),
  };
}

function checkGranularity(granularity: Granularity): Granularity {
  const kind = (granularity as { kind?: unknown } | null)?.kind;
  if (!GRANULARITY_KINDS.includes(kind as (typeof GRANULARITY_KINDS)[number])) {
    throw new QattnError('ERR_QATTN_OPTION', `granularity.kind must be one of ${GRANULARITY_KINDS.join(', ')}, got ${String(kind)}`, {
      option: 'granularity',
      value: kind,
    });
  }
  if (granularity.kind === 'block' || granularity.kind === 'blockChannel') {
    const size = granularity.blockSize;
    if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) {
      throw new QattnError('ERR_QATTN_OPTION', `granularity.blockSize must be a positive integer, got ${String(size)}`, {
        option: 'granularity.blockSize',
        value: size,
      });
    }
  }
  return granularity;
}

function checkSpec(spec: QuantSpec): QuantSpec {
  if (typeof spec !== 'object' || spec === null) {
    throw new QattnError('ERR_QATTN_OPTION', 'spec must be an object {bits, scheme, granularity}');
  }
  if (spec.bits !== 8 && spec.bits !== 4 && spec.bits !== 2) {
    throw new QattnError('ERR_QATTN_OPTION', `spec.bits must be 8, 4 or 2, got ${String(spec.bits)}`, { option: 'bits', value: spec.bits });
  }
  if (spec.scheme !== 'symmetric' && spec.scheme !== 'asymmetric') {
    throw new QattnError('ERR_QATTN_OPTION', `spec.scheme must be 'symmetric' or 'asymmetric', got ${String(spec.scheme)}`, {
      option: 'scheme',
      value: spec.scheme,
    });
  }
  checkGranularity(spec.granularity);
  return spec;
}

/** The scale grid of `granularity` over `view` (pure; validates both). */
export function scaleLayout(view: TensorView, granularity: Granularity): ScaleLayout {
  const { groups, tokens, channels } = checkView(view);
  const [g, t, c] = cellExtents(checkGranularity(granularity));
  const per = (extent: AxisExtent, size: number): number => (extent === 'all' ? size : Math.min(extent, size));
  const groupsPerCell = per(g, groups);
  const tokensPerCell = per(t, tokens);
  const channelsPerCell = per(c, channels);
  const shape = [
    Math.ceil(groups / groupsPerCell),
    Math.ceil(tokens / tokensPerCell),
    Math.ceil(channels / channelsPerCell),
  ] as const;
  return { shape, groupsPerCell, tokensPerCell, channelsPerCell, cells: shape[0] * shape[1] * shape[2] };
}

function checkInput(x: unknown, view: TensorView): Float32Array {
  if (!(x instanceof Float32Array)) {
    throw new QattnError('ERR_QATTN_DTYPE', 'quantize: input must be a Float32Array');
  }
  const expected = view.groups * view.tokens * view.channels;
  if (x.length !== expected) {
    throw new QattnError('ERR_QATTN_SHAPE', `quantize: input has ${x.length} elements but view [groups, tokens, channels] needs ${expected}`, {
      length: x.length,
      expected,
    });
  }
  for (let i = 0; i < x.length; i++) {
    if (x[i] - x[i] !== 0) {
      throw new QattnError('ERR_QATTN_NONFINITE', `quantize: input[${i}] is ${x[i]}: inputs must be finite`, { index: i, value: x[i] });
    }
  }
  return x;
}

/**
 * Visits every row (g, t) of the view with the offset of its first cell; the cell of element c is
 * `rowCell + c · channelStep` (channelStep is 1 for per-channel grids, 0 otherwise), so inner loops stay branch-free.
 */
function forEachRow(
  view: TensorView,
  layout: ScaleLayout,
  visit: (rowStart: number, rowCell: number, channelStep: number) => void,
): void {
  const [, cellsT, cellsC] = layout.shape;
  const channelStep = layout.channelsPerCell === 1 && view.channels > 1 ? 1 : 0;
  for (let g = 0; g < view.groups; g++) {
    const groupCell = Math.floor(g / layout.groupsPerCell) * cellsT;
    for (let t = 0; t < view.tokens; t++) {
      const rowCell = (groupCell + Math.floor(t / layout.tokensPerCell)) * cellsC;
      visit((g * view.tokens + t) * view.channels, rowCell, channelStep);
    }
  }
}

/** A float64 scale rounded to the float32 that is stored and used, raised to {@link MIN_SCALE} if it underflows. */
function storedScale(scale: number): number {
  return Math.max(Math.fround(scale), MIN_SCALE);
}

/**
 * Quantizes `x`, viewed as `[groups, tokens, channels]`, to `spec.bits`-bit integer codes.
 *
 * Scales are float32, computed in float64 from the cell's range then rounded to float32; the codes are computed from
 * that stored scale (x / s, float64) so dequantization reproduces every element within half a step:
 * |x − x̂| ≤ s/2 (plus float32 rounding of x̂). Rounding is {@link roundHalfEven}. Scales are never 0 and constant
 * cells round-trip exactly: an all-zero cell gets {@link SAFE_SCALE} and codes 0; a symmetric cell whose elements are
 * all ±m gets s = m and codes ±1; a constant asymmetric cell gets {@link SAFE_SCALE} and code 0 (decoding to z).
 *
 * Throws `ERR_QATTN_DTYPE` (not a Float32Array), `ERR_QATTN_SHAPE` (length ≠ view, bad view),
 * `ERR_QATTN_NONFINITE` (NaN/±Inf), `ERR_QATTN_OPTION` (bad bits, scheme or granularity). `x` is not modified.
 *
 * @example
 * const q = quantize(k, { groups: batch * kvHeads, tokens: seqKV, channels: headDim },
 *                    { bits: 8, scheme: 'symmetric', granularity: { kind: 'token' } });
 * // q.values: Int8Array [groups, tokens, channels]; q.scales: Float32Array [groups, tokens, 1]
 */
export function quantize(x: Float32Array, view: TensorView, spec: QuantSpec): Quantized {
  checkSpec(spec);
  const layout = scaleLayout(view, spec.granularity);
  const checkedView = checkView(view);
  checkInput(x, checkedView);
  return spec.scheme === 'symmetric'
    ? quantizeSymmetric(x, checkedView, spec, layout)
    : quantizeAsymmetric(x, checkedView, spec, layout);
}

function quantizeSymmetric(x: Float32Array, view: TensorView, spec: QuantSpec, layout: ScaleLayout): SymmetricQuantized {
  const qmax = symmetricMax(spec.bits);
  const { channels } = view;
  const absMax = new Float64Array(layout.cells); // [G, T, C]
  const absMin = new Float64Array(layout.cells).fill(Infinity); // [G, T, C]
  forEachRow(view, layout, (rowStart, rowCell, channelStep) => {
    for (let c = 0; c < channels; c++) {
      const magnitude = Math.abs(x[rowStart + c]);
      const cell = rowCell + c * channelStep;
      if (magnitude > absMax[cell]) absMax[cell] = magnitude;
      if (magnitude < absMin[cell]) absMin[cell] = magnitude;
    }
  });
  const scales = new Float32Array(layout.cells);
  for (let cell = 0; cell < layout.cells; cell++) {
    // A cell whose elements are all ±m (constant cells included) takes s = m and codes ±1: exact, where m/qmax·qmax
    // would miss m by an ulp for about 1 value in 12 (int4) after float32 rounding of s.
    scales[cell] = absMax[cell] === 0 ? SAFE_SCALE : absMin[cell] === absMax[cell] ? absMax[cell] : storedScale(absMax[cell] / qmax);
  }
  const values = new Int8Array(x.length);
  forEachRow(view, layout, (rowStart, rowCell, channelStep) => {
    for (let c = 0; c < channels; c++) {
      const code = roundHalfEven(x[rowStart + c] / scales[rowCell + c * channelStep]);
      // The clamp only bites when float32 rounding of s lands just below max|x|/qmax; it then moves by < 1 ulp.
      values[rowStart + c] = code > qmax ? qmax : code < -qmax ? -qmax : code;
    }
  });
  return { scheme: 'symmetric', view, bits: spec.bits, granularity: spec.granularity, layout, scales, values };
}

function quantizeAsymmetric(x: Float32Array, view: TensorView, spec: QuantSpec, layout: ScaleLayout): AsymmetricQuantized {
  const qmax = asymmetricMax(spec.bits);
  const { channels } = view;
  const minimum = new Float64Array(layout.cells).fill(Infinity); // [G, T, C]
  const maximum = new Float64Array(layout.cells).fill(-Infinity); // [G, T, C]
  forEachRow(view, layout, (rowStart, rowCell, channelStep) => {
    for (let c = 0; c < channels; c++) {
      const value = x[rowStart + c];
      const cell = rowCell + c * channelStep;
      if (value < minimum[cell]) minimum[cell] = value;
      if (value > maximum[cell]) maximum[cell] = value;
    }
  });
  const scales = new Float32Array(layout.cells);
  const zeros = new Float32Array(layout.cells);
  for (let cell = 0; cell < layout.cells; cell++) {
    // The minimum is an input element, hence exactly a float32: code 0 decodes to it without rounding.
    zeros[cell] = minimum[cell];
    // max − min is formed in float64, so it cannot overflow even for inputs near ±float32 max.
    scales[cell] = maximum[cell] === minimum[cell] ? SAFE_SCALE : storedScale((maximum[cell] - minimum[cell]) / qmax);
  }
  const values = new Uint8Array(x.length);
  forEachRow(view, layout, (rowStart, rowCell, channelStep) => {
    for (let c = 0; c < channels; c++) {
      const cell = rowCell + c * channelStep;
      const code = roundHalfEven((x[rowStart + c] - zeros[cell]) / scales[cell]);
      values[rowStart + c] = code > qmax ? qmax : code;
    }
  });
  return { scheme: 'asymmetric', view, bits: spec.bits, granularity: spec.granularity, layout, scales, zeros, values };
}

/**
 * Reconstructs float32 values from {@link quantize}'s output: x̂ = q·s (symmetric) or q·s + z (asymmetric), computed in
 * float64 and rounded once to float32. Writes into `out` when given (it must have the view's length).
 */
export function dequantize(quantized: Quantized, out?: Float32Array): Float32Array {
  const { view, layout, scales } = quantized;
  const length = view.groups * view.tokens * view.channels;
  if (quantized.values.length !== length) {
    throw new QattnError('ERR_QATTN_SHAPE', `dequantize: ${quantized.values.length} codes but the view needs ${length}`);
  }
  if (out !== undefined && (!(out instanceof Float32Array) || out.length !== length)) {
    throw new QattnError('ERR_QATTN_SHAPE', `dequantize: out must be a Float32Array of ${length} elements`);
  }
  const target = out ?? new Float32Array(length);
  const { channels } = view;
  const codes = quantized.values;
  const zeros = quantized.scheme === 'asymmetric' ? quantized.zeros : new Float32Array(layout.cells);
  forEachRow(view, layout, (rowStart, rowCell, channelStep) => {
    for (let c = 0; c < channels; c++) {
      const cell = rowCell + c * channelStep;
      target[rowStart + c] = codes[rowStart + c] * scales[cell] + zeros[cell];
    }
  });
  return target;
}
