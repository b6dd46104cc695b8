import {
  type AttentionOptions,
  type BackendRequest,
  type OptionTable,
  QattnError,
  SAS_MAX_THRESHOLD,
  resolveOptions,
  sasThresholdForKeys,
} from '@qattn/quant-core';

/**
 * Options of {@link turboAttention}. The algorithm is TurboAttention's FlashQ + SAS; every field selects a variant of
 * it (data, validated once, up front, against {@link TURBO_OPTION_TABLE}) or a tile size.
 */
export interface TurboOptions extends AttentionOptions {
  /** Which backend runs the call. `'auto'` (default) takes the fastest one that loads here. */
  backend?: BackendRequest;
  /**
   * Softmax exponent: `true` (default) uses SAS — 2^−n × an fp16 degree-3 polynomial, with sparsity below the row
   * max − `sasThreshold`; `false` uses an exact fp32 exp2 without sparsity (to measure what SAS costs).
   */
  sas?: boolean;
  /**
   * SAS sparsity threshold T, base 2: a score more than T below its row's running max contributes exactly 0, in
   * [0, 24]. `'auto'` (default): ⌈log2 seqKV⌉ + 6, at least 14 (quant-core's `sasThresholdForKeys`), so the mass
   * dropped behind an attention sink stays negligible at any sequence length.
   */
  sasThreshold?: number | 'auto';
  /** Queries per tile = the token block of Q's INT8 scales (one scale per block per head). */
  blockM?: number;
  /** Keys per tile = the token block of K's and V's INT8 scales and of P's row max. */
  blockN?: number;
  /** Subtract K's per-channel mean over tokens before quantizing it (SageAttention; exact for softmax). */
  smoothK?: boolean;
  /**
   * Subtract V's per-channel mean over tokens before quantizing it and add it back to the output: the INT8 grid then
   * covers V's spread instead of its offset, and the mass that rounding P̂ loses is attributed to the mean.
   */
  smoothV?: boolean;
  /** INT8 P scale: per row by its maximum within the key tile (`'rowmax'`), or INT-FlashAttention's fixed 1/127. */
  pScale?: 'rowmax' | 'global';
  /** INT8 V scale: one per (blockN keys, head) — FlashQ's `'block'` — or per (blockN keys, head, channel). */
  vGranularity?: 'block' | 'blockChannel';
}

/** {@link TurboOptions} with every default filled in, as backends receive them (`scale` is resolved with the shape). */
export type ResolvedTurboOptions = Required<Omit<TurboOptions, 'scale' | 'sasThreshold'>> & { scale: number | undefined; sasThreshold: number };

/**
 * The option table of turbo-attn: what each option accepts and its default.
 *
 * Defaults were chosen by measurement on the CPU oracle: relative L2 against float64 `@qattn/reference` on its LLM-like
 * generator (outlier K channels, attention sink, Student-t V), min–max over 6 shapes × 2 seeds (batch 1–2, 8 heads,
 * hd 64/128, 200–512 tokens, causal and not, GQA 4:1, seqQ < and > seqKV); "sharp" multiplies q by 3. Reproduce with
 * `node scripts/measure-accuracy.mjs '[{}, {"blockN": 32}]' 2`. "SAS-skipped" is the share of visited tiles whose P
 * was all 0 under SAS.
 *
 * | configuration                                         | LLM-like      | sharp (q×3)   | U[0,1)      | SAS-skipped |
 * |-------------------------------------------------------|---------------|---------------|-------------|-------------|
 * | **defaults**                                          | 1.60–1.76%    | 1.11–1.48%    | 0.01–0.03%  | 0.04%       |
 * | FlashQ as published: per-block V, global P, no smoothing | 3.37–7.10% | 2.93–7.20%    | 0.03–0.07%  | 0.04%       |
 * | defaults but `sas: false` (exact exp2, no sparsity)   | 1.56–1.76%    | 1.11–1.48%    | 0.01–0.03%  | —           |
 * | defaults but `sasThreshold` 12 / 10 / 8               | 1.83–2.61% / 4.20–8.41% / 12.3–24.0% | 1.13–1.50% / 1.22–1.61% / 1.54–2.10% | 0.01–0.03% | 0.09 / 0.18 / 0.42% |
 * | defaults but `vGranularity: 'block'`                  | 2.59–6.74%    | 2.43–7.07%    | 0.01–0.03%  |             |
 * | defaults but `smoothK: false`                         | 2.05–2.63%    | 1.74–2.56%    | 0.01–0.03%  |             |
 * | defaults but `smoothV: false`                         | 1.60–1.79%    | 1.14–1.54%    | 0.03–0.06%  |             |
 * | defaults but `pScale: 'global'`                       | 2.19–2.94%    | 1.16–1.54%    | 0.01–0.03%  |             |
 * | defaults but `blockN` 16 / 32 / 128                   | 1.09–1.28% / 1.28–1.52% / 1.93–2.22% | 0.93–1.25% / 1.00–1.37% / 1.27–1.68% | 0.01–0.03% | |
 * | defaults but `blockM` 32 / 128                        | 1.58–1.75% / 1.61–1.78% | 1.09–1.43% / 1.13–1.51% | 0.01–0.03% | |
 */
export const TURBO_OPTION_TABLE: OptionTable<TurboOptions> = {
  causal: { kind: 'boolean', default: false },
  // Validated with the shape by validateAttentionInputs (its default, 1/√headDim, depends on the shape).
  scale: { kind: 'passthrough', default: undefined },
  backend: { kind: 'enum', values: ['auto', 'cpu', 'webgpu', 'cuda'], default: 'auto' },
  // SAS's polynomial costs ≤ 0.04 points next to exact exp2; what it buys is no transcendental on the GPU.
  sas: { kind: 'boolean', default: true },
  // What SAS drops is the mass of many small scores, not one large one: behind an attention sink hundreds of keys sit
  // 8–12 below the row max and together carry much of the probability. T = 14 (quant-core's default, the largest T
  // whose results stay fp16-normal) matches exact exp2; each 2 less multiplies the error (12: +0.9 points worst case,
  // 10: ×5, 8: ×14). Tiles SAS empties are rare on this data at any of these T (≤ 0.4%); sharper heads skip more.
  // At long rows a fixed 14 was not enough: thousands of keys 14–18 below the max still carry mass (4K keys: 3.38%
  // vs 1.65% exact); 'auto' grows T with log2(seqKV) (quant-core's sasThresholdForKeys) and matches exact exp2.
  // Validated by resolveTurboOptions (a number in [0, SAS_MAX_THRESHOLD] or 'auto').
  sasThreshold: { kind: 'passthrough', default: 'auto' },
  // Q's block: no measurable effect (32–128 within ±0.05 points); 64 is FlashQ's tile.
  blockM: { kind: 'integer', min: 1, max: 1024, default: 64 },
  // The block of K's and V's scales and of P's row max: smaller is more accurate (16: 1.1–1.3%, 32: 1.3–1.5%,
  // 64: 1.6–1.8%, 128: 1.9–2.2%). 64 keeps half the bar in reserve and matches the KV cache's 64-token blocks, so the
  // cache's block-wise INT8 scales line up with the kernel's key tiles.
  blockN: { kind: 'integer', min: 1, max: 1024, default: 64 },
  // The outlier K channels otherwise set every block's K scale: off costs 0.4–0.9 points.
  smoothK: { kind: 'boolean', default: true },
  // Halves the error on data with a V offset (U[0,1): 0.03–0.06% → 0.01–0.03%), neutral to slightly better on
  // LLM-like data; one pass over V and an add in the epilogue.
  smoothV: { kind: 'boolean', default: true },
  // After the attention sink every later tile's P sits far below the running max, where a global 1/127 scale leaves
  // a few levels: 'global' costs 0.6–1.2 points.
  pScale: { kind: 'enum', values: ['rowmax', 'global'], default: 'rowmax' },
  // Student-t V: one scale per 64 keys × headDim values is set by the rare huge values (2.6–6.7%); per channel it is
  // set by 64 values and the error drops 1.6–4×. The scales vary along P·V's output dimension, so they still factor
  // out of the INT8 GEMM (one fp32 multiply per output element per tile, as for the per-block scale).
  vGranularity: { kind: 'enum', values: ['block', 'blockChannel'], default: 'blockChannel' },
};

/**
 * Validates `options` (unknown keys and bad values throw `ERR_QATTN_OPTION`) and fills in the defaults;
 * `sasThreshold: 'auto'` becomes the threshold for `seqKV` keys (14 when the key count is not known).
 */
export function resolveTurboOptions(options: TurboOptions | undefined, seqKV?: number): ResolvedTurboOptions {
  const resolved = resolveOptions(TURBO_OPTION_TABLE, options, 'turboAttention') as Omit<ResolvedTurboOptions, 'sasThreshold'> & { sasThreshold: unknown };
  return { ...resolved, sasThreshold: resolveSasThreshold(resolved.sasThreshold, seqKV, 'turboAttention') };
}

/** A `sasThreshold` option as a number: 'auto' by the key count, else a number in [0, SAS_MAX_THRESHOLD]. */
export function resolveSasThreshold(value: unknown, seqKV: number | undefined, context: string): number {
  if (value === 'auto') return sasThresholdForKeys(seqKV ?? 0);
  if (typeof value !== 'number' || !(value >= 0 && value <= SAS_MAX_THRESHOLD)) {
    throw new QattnError('ERR_QATTN_OPTION', `${context}: options.sasThreshold must be 'auto' or a number in [0, ${SAS_MAX_THRESHOLD}], got ${String(value)}`, {
      option: 'sasThreshold',
    });
  }
  return value;
}
