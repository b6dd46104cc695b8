import { QattnError } from './errors.js';

/**
 * Shape of one attention call. Tensors are row-major: q and the output `[batch, heads, seqQ, headDim]`, k and v
 * `[batch, kvHeads, seqKV, headDim]`. Query head h reads kv head ⌊h / (heads / kvHeads)⌋ (GQA; MQA when kvHeads = 1).
 */
export interface AttentionShape {
  batch: number;
  heads: number;
  /** Defaults to `heads` (plain multi-head attention). Must divide `heads`. */
  kvHeads?: number;
  seqQ: number;
  seqKV: number;
  headDim: number;
}

/** Options every attention entry point takes. */
export interface AttentionOptions {
  /** Bottom-right aligned causal mask: query i sees keys j ≤ i + seqKV − seqQ. Default false. */
  causal?: boolean;
  /** Softmax scale applied to q·k. Default 1/√headDim. */
  scale?: number;
}

/** An {@link AttentionShape} with `kvHeads` resolved and the derived sizes every kernel needs. */
export interface ResolvedShape extends Required<AttentionShape> {
  /** heads / kvHeads: how many query heads share one kv head. */
  groupSize: number;
  /** Elements of q and of the output. */
  qElements: number;
  /** Elements of k and of v. */
  kvElements: number;
}

const DIMENSION_LEGEND = 'q/out [batch, heads, seqQ, headDim], k/v [batch, kvHeads, seqKV, headDim]';

function checkDimension(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `shape.${name} must be a positive integer, got ${String(value)} (${DIMENSION_LEGEND})`, {
      dimension: name,
      value,
    });
  }
  return value;
}

/** Validates a shape (every dimension a positive integer, kvHeads dividing heads) and returns its resolved form. */
export function resolveShape(shape: AttentionShape): ResolvedShape {
  if (typeof shape !== 'object' || shape === null) {
    throw new QattnError('ERR_QATTN_SHAPE', `shape must be an object {batch, heads, kvHeads?, seqQ, seqKV, headDim}`);
  }
  const batch = checkDimension('batch', shape.batch);
  const heads = checkDimension('heads', shape.heads);
  const kvHeads = checkDimension('kvHeads', shape.kvHeads ?? shape.heads);
  const seqQ = checkDimension('seqQ', shape.seqQ);
  const seqKV = checkDimension('seqKV', shape.seqKV);
  const headDim = checkDimension('headDim', shape.headDim);
  if (heads % kvHeads !== 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `shape.heads (${heads}) must be a multiple of shape.kvHeads (${kvHeads})`, { heads, kvHeads });
  }
  return {
    batch,
    heads,
    kvHeads,
    seqQ,
    seqKV,
    headDim,
    groupSize: heads / kvHeads,
    qElements: batch * heads * seqQ * headDim,
    kvElements: batch * kvHeads * seqKV * headDim,
  };
}

/** Throws `ERR_QATTN_DTYPE` unless `value` is a Float32Array. */
export function assertFloat32Array(name: string, value: unknown): asserts value is Float32Array {
  if (!(value instanceof Float32Array)) {
    const got = value === null ? 'null' : typeof value === 'object' ? (value as object).constructor?.name ?? 'object' : typeof value;
    throw new QattnError('ERR_QATTN_DTYPE', `${name} must be a Float32Array, got ${got}`, { tensor: name, got });
  }
}

/** Throws `ERR_QATTN_NONFINITE` naming the tensor and first index of a NaN or ±Infinity. */
export function assertFinite(name: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    // x - x is NaN exactly when x is NaN or ±Infinity: one comparison per element on the hot validation path.
    if (x - x !== 0) {
      throw new QattnError('ERR_QATTN_NONFINITE', `${name}[${i}] is ${x}: inputs must be finite`, { tensor: name, index: i, value: x });
    }
  }
}

/**
 * max|x| of a tensor, throwing `ERR_QATTN_NONFINITE` (naming the first bad index) when any element is NaN or ±Infinity:
 * the finiteness check and the range every backend needs in one pass over the data. Math.max propagates NaN and
 * Infinity, so the loop has no branch; four accumulators let the maxima of neighbouring elements run in parallel.
 * Measured in Node 20 on 24 576 floats: 27 µs, against 85 µs for `assertFinite` followed by `maxAbs`.
 */
export function scanFinite(name: string, x: Float32Array): number {
  let m0 = 0;
  let m1 = 0;
  let m2 = 0;
  let m3 = 0;
  const n = x.length;
  const n4 = n - (n & 3);
  let i = 0;
  for (; i < n4; i += 4) {
    m0 = Math.max(m0, Math.abs(x[i]));
    m1 = Math.max(m1, Math.abs(x[i + 1]));
    m2 = Math.max(m2, Math.abs(x[i + 2]));
    m3 = Math.max(m3, Math.abs(x[i + 3]));
  }
  for (; i < n; i++) m0 = Math.max(m0, Math.abs(x[i]));
  const max = Math.max(m0, m1, m2, m3);
  if (!(max < Infinity)) assertFinite(name, x); // the slow pass only to name the index
  return max;
}

/** max|q|, max|k|, max|v| of validated inputs (see {@link scanFinite}). */
export interface InputMaxAbs {
  q: number;
  k: number;
  v: number;
}

/**
 * Validates the typed-array inputs of an attention call: dtypes, lengths against the shape, finiteness, and the
 * shared options (`causal`, `scale`). Returns the resolved shape, the scale to use, and each tensor's max|x| (found by
 * the finiteness pass; backends hand it to {@link assertLogitsInRange} instead of scanning again).
 */
export function validateAttentionInputs(
  q: unknown,
  k: unknown,
  v: unknown,
  shape: AttentionShape,
  options: AttentionOptions = {},
): { shape: ResolvedShape; scale: number; causal: boolean; maxAbs: InputMaxAbs } {
  const resolved = resolveShape(shape);
  const tensors: Array<[string, unknown, number, string]> = [
    ['q', q, resolved.qElements, '[batch, heads, seqQ, headDim]'],
    ['k', k, resolved.kvElements, '[batch, kvHeads, seqKV, headDim]'],
    ['v', v, resolved.kvElements, '[batch, kvHeads, seqKV, headDim]'],
  ];
  for (const [name, tensor, expected, layout] of tensors) {
    assertFloat32Array(name, tensor);
    if (tensor.length !== expected) {
      throw new QattnError(
        'ERR_QATTN_SHAPE',
        `${name} has ${tensor.length} elements but shape ${layout} needs ${expected}`,
        { tensor: name, length: tensor.length, expected },
      );
    }
  }
  const maxAbs = { q: scanFinite('q', q as Float32Array), k: scanFinite('k', k as Float32Array), v: scanFinite('v', v as Float32Array) };
  const { scale, causal } = resolveCommonOptions(options, resolved.headDim);
  return { shape: resolved, scale, causal, maxAbs };
}

/** Validates `causal` and `scale` and applies their defaults. */
export function resolveCommonOptions(options: AttentionOptions, headDim: number): { scale: number; causal: boolean } {
  if (typeof options !== 'object' || options === null) {
    throw new QattnError('ERR_QATTN_OPTION', 'options must be an object');
  }
  const causal = options.causal ?? false;
  if (typeof causal !== 'boolean') {
    throw new QattnError('ERR_QATTN_OPTION', `options.causal must be a boolean, got ${String(causal)}`, { option: 'causal' });
  }
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new QattnError('ERR_QATTN_OPTION', `options.scale must be a finite positive number, got ${String(scale)}`, { option: 'scale' });
  }
  return { scale, causal };
}

/** log2(e): folded with the softmax scale so kernels can use exp2 (`smScaleLog2 = scale · LOG2E`). */
export const LOG2E = Math.LOG2E;

/**
 * Index of the last key query `i` may see under the bottom-right aligned causal mask (−1 when it sees none).
 * Non-causal calls see every key: `seqKV − 1`.
 */
export function lastVisibleKey(i: number, seqQ: number, seqKV: number, causal: boolean): number {
  return causal ? Math.max(-1, Math.min(seqKV - 1, i + seqKV - seqQ)) : seqKV - 1;
}

/** Largest |x| of a tensor (0 for an empty one). */
export function maxAbs(x: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) {
    const magnitude = Math.abs(x[i]);
    if (magnitude > max) max = magnitude;
  }
  return max;
}

const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * The largest base-2 logit bound (|q·k|·scale·log2e) any backend accepts: 2^27.
 *
 * Why not float32's maximum: the GPU kernels subtract the running row max inside the same fused multiply-add that
 * applies the scales (x = y·s − m, one FFMA per score, see attn_fwd_sm80.cuh), and m is the *rounded* product
 * y_max·s. The max key's x is then that rounding residual, up to ulp(m)/2, instead of 0. Below 2^27 the residual is at
 * most 4: P of the max key stays in [2^−4, 2^4] — finite, nonzero, above every SAS threshold (≥ 8), so the row sum
 * is positive and the output a convex combination of V rows. At |m| ≈ 1e31 the residual is ≈ 5e23 and exp2 returns
 * +∞ or 0 for the whole row (NaN output: fuzz seed 1 case 41, q × 1e30). Logits this large are a hard argmax whose
 * ranking float32 cannot resolve anyway; real attention logits are below 10^3.
 */
export const MAX_BASE2_LOGIT = 2 ** 27;

/**
 * Throws `ERR_QATTN_UNSUPPORTED` when base-2 logits could exceed {@link MAX_BASE2_LOGIT}, bounding them by
 * headDim·max|q|·max|k|·scale·log2e (Hölder; loose by √headDim or more for real data, which stays orders of magnitude
 * below the limit). Every backend refuses such calls the same way instead of returning garbage.
 */
export function assertLogitsInRange(
  context: string,
  q: Float32Array,
  k: Float32Array,
  headDim: number,
  scale: number,
  known?: Pick<InputMaxAbs, 'q' | 'k'>,
): void {
  const bound = headDim * (known?.q ?? maxAbs(q)) * (known?.k ?? maxAbs(k)) * scale * LOG2E;
  if (bound > MAX_BASE2_LOGIT) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `${context}: base-2 logits may reach ${bound.toExponential(2)}, beyond the ${MAX_BASE2_LOGIT.toExponential(2)} a fused fp32 softmax keeps finite (max|q|·max|k|·headDim·scale·log2e); rescale q or k`,
      { bound, limit: MAX_BASE2_LOGIT },
    );
  }
}

/** @deprecated Renamed {@link assertLogitsInRange} (the limit is {@link MAX_BASE2_LOGIT}, not float32's maximum). */
export const assertLogitsFitFloat32 = assertLogitsInRange;

/** One validated attention call, as a kernel package hands it to its backends. `O` is the package's resolved options. */
export interface AttentionCall<O> {
  /** [batch, heads, seqQ, headDim] */
  q: Float32Array;
  /** [batch, kvHeads, seqKV, headDim] */
  k: Float32Array;
  /** [batch, kvHeads, seqKV, headDim] */
  v: Float32Array;
  shape: ResolvedShape;
  /** Softmax scale (default already applied: 1/√headDim). */
  scale: number;
  causal: boolean;
  options: O;
  /** max|x| of q, k and v when the entry point's validation already found them (`validateAttentionInputs`). */
  maxAbs?: InputMaxAbs;
}

/**
 * Throws `ERR_QATTN_UNSUPPORTED` when smoothing `x` (subtracting its per-channel mean over the keys, `smoothK` /
 * `smoothV`) could overflow float32: the GPU kernels sum a channel over `tokens` rows in float32 before dividing, and
 * x − mean can reach 2·max|x|. So max|x|·(tokens + 1) must stay below half of FLOAT32_MAX. Without this a V of
 * magnitude 1e35 over 4K keys came back as NaN from WebGPU (found by the fuzz suite, tests/fuzz); every backend now
 * refuses it the same way, naming the option that avoids it.
 */
export function assertSmoothingFitsFloat32(context: string, tensor: 'k' | 'v', x: Float32Array, tokens: number, known?: number): void {
  const bound = (known ?? maxAbs(x)) * (tokens + 1);
  if (bound > FLOAT32_MAX / 2) {
    const option = tensor === 'k' ? 'smoothK' : 'smoothV';
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `${context}: ${option} sums ${tensor} over ${tokens} keys in float32, and max|${tensor}|·(keys + 1) = ${bound.toExponential(2)} could overflow; set ${option}: false or rescale ${tensor}`,
      { tensor, option, bound },
    );
  }
}

/**
 * Largest max|v| the GPU kernels' INT8 P·V can dequantize: they turn INT32 accumulators into fp32 through the
 * magic-number add (acc·s = fma(bits(1.5·2^23 + acc), s, −1.5·2^23·s), quant-core's kernels in @qattn/cuda-runtime),
 * with V's scale s = max|v|/127, so 1.5·2^23·s must stay finite with room to spare: max|v| < 127·FLOAT32_MAX/2^25.
 * Smoothed V (v − mean) can reach twice max|v|.
 */
export const MAGIC_DEQUANT_MAX_ABS = (127 * FLOAT32_MAX) / 2 ** 25;

/**
 * Throws `ERR_QATTN_UNSUPPORTED` when V is too large for the GPU kernels' magic-number dequantization of P·V
 * ({@link MAGIC_DEQUANT_MAX_ABS}): a V of 1e38 came back as NaN from the CUDA backend (found by the fuzz suite,
 * tests/fuzz), where −1.5·2^23·s overflowed to −Infinity. Every backend refuses the same calls.
 */
export function assertValuesFitInt8Dequant(context: string, v: Float32Array, smoothed: boolean, known?: number): void {
  const reach = (known ?? maxAbs(v)) * (smoothed ? 2 : 1);
  if (reach >= MAGIC_DEQUANT_MAX_ABS) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `${context}: v reaches ${reach.toExponential(2)}${smoothed ? ' (after smoothing)' : ''}; the INT8 P·V dequantizes through a magic-number add that needs |v| < ${MAGIC_DEQUANT_MAX_ABS.toExponential(2)}: rescale v`,
      { tensor: 'v', reach },
    );
  }
}
