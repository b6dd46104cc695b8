import {
  type AttentionOptions,
  type BackendRequest,
  type OptionTable,
  SAS_DEFAULT_THRESHOLD,
  SAS_MAX_THRESHOLD,
  resolveOptions,
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
  /** SAS sparsity threshold T, base 2: a score more than T below its row's running max contributes exactly 0. */
  sasThreshold?: number;
  /** Queries per tile = the token block of Q's INT8 scales (one scale per block per head). */
  blockM?: number;
  /** Keys per tile = the token block of K's and V's INT8 scales and of P's row max. */
  blockN?: number;
  /** Subtract K's per-channel mean over tokens before quantizing it (SageAttention; exact for softmax). */
  smoothK?: boolean;
  /** INT8 P scale: per row by its maximum within the key tile (`'rowmax'`), or INT-FlashAttention's fixed 1/127. */
  pScale?: 'rowmax' | 'global';
  /** INT8 V scale: one per (blockN keys, head) — FlashQ's `'block'` — or per (blockN keys, head, channel). */
  vGranularity?: 'block' | 'blockChannel';
}

/** {@link TurboOptions} with every default filled in, as backends receive them (`scale` is resolved with the shape). */
export type ResolvedTurboOptions = Required<Omit<TurboOptions, 'scale'>> & { scale: number | undefined };

/**
 * The option table of turbo-attn: what each option accepts and its default.
 *
 * Defaults were chosen by measurement on the CPU oracle: relative L2 against float64 `@qattn/reference` on its LLM-like
 * generator (outlier K channels, attention sink, Student-t V), worst over 6 shapes (batch 1–2, 8 heads, hd 64/128,
 * 200–512 tokens, causal and not, GQA 4:1, seqQ ≠ seqKV), one seed; "sharp" multiplies q by 3.
 *
 * | configuration                                   | LLM-like | sharp (q×3) | U[0,1) |
 * |-------------------------------------------------|----------|-------------|--------|
 * | defaults                                        | TBD      | TBD         | TBD    |
 */
export const TURBO_OPTION_TABLE: OptionTable<TurboOptions> = {
  causal: { kind: 'boolean', default: false },
  // Validated with the shape by validateAttentionInputs (its default, 1/√headDim, depends on the shape).
  scale: { kind: 'passthrough', default: undefined },
  backend: { kind: 'enum', values: ['auto', 'cpu', 'webgpu', 'cuda'], default: 'auto' },
  sas: { kind: 'boolean', default: true },
  sasThreshold: { kind: 'number', min: 0, max: SAS_MAX_THRESHOLD, default: SAS_DEFAULT_THRESHOLD },
  blockM: { kind: 'integer', min: 1, max: 1024, default: 64 },
  blockN: { kind: 'integer', min: 1, max: 1024, default: 64 },
  smoothK: { kind: 'boolean', default: true },
  pScale: { kind: 'enum', values: ['rowmax', 'global'], default: 'rowmax' },
  vGranularity: { kind: 'enum', values: ['block', 'blockChannel'], default: 'blockChannel' },
};

/** Validates `options` (unknown keys and bad values throw `ERR_QATTN_OPTION`) and fills in the defaults. */
export function resolveTurboOptions(options: TurboOptions | undefined): ResolvedTurboOptions {
  return resolveOptions(TURBO_OPTION_TABLE, options, 'turboAttention') as ResolvedTurboOptions;
}
