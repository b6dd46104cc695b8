import { type OptionTable, resolveOptions } from '@qattn/quant-core';

/** Most query tokens per sequence one decode call takes (speculative decoding verifies a few at once). */
export const MAX_DECODE_QUERY_TOKENS = 16;

/** Options of {@link turboDecode}. */
export interface TurboDecodeOptions {
  /** Query heads (a multiple of the cache's kvHeads). Default: derived from q's length. */
  heads?: number;
  /**
   * New tokens per sequence, 1…16 (default 1): q is `[batch, heads, queryTokens, headDim]`. They are the last
   * `queryTokens` tokens the cache holds (append them first), causal among themselves: query i of a sequence of
   * length L sees keys j ≤ L − queryTokens + i (bottom-right aligned).
   */
  queryTokens?: number;
  /** Softmax scale applied to q·k. Default 1/√headDim. */
  scale?: number;
  /** SAS exponent (default true, as turboAttention); false: exact fp32 exp2 without sparsity. */
  sas?: boolean;
  /**
   * SAS sparsity threshold T, base 2: scores more than T below the row's running max contribute exactly 0.
   * `'auto'` (default): by the cache's longest sequence, as turboAttention's (quant-core `sasThresholdForKeys`).
   */
  sasThreshold?: number | 'auto';
  /** Also return the log-sum-exp of each query row (natural log, of scale · q·k), for merging partial states. */
  returnLse?: boolean;
  /**
   * Split-KV: pages per split of the cpu schedule (each split is attended on its own, then the partial states are
   * merged as a GPU's split-KV combine kernel does). Default 16 (1024 keys at 64-token pages).
   */
  pagesPerSplit?: number;
}

/** {@link TurboDecodeOptions} with defaults (heads and scale stay undefined until the shape resolves them). */
export type ResolvedTurboDecodeOptions = Required<Omit<TurboDecodeOptions, 'heads' | 'scale' | 'sasThreshold'>> & {
  heads: number | undefined;
  scale: number | undefined;
  /** A number in [0, 24] or 'auto', resolved against the cache by turboDecode. */
  sasThreshold: unknown;
};

/** What {@link turboDecode} accepts and its defaults. */
export const TURBO_DECODE_OPTION_TABLE: OptionTable<TurboDecodeOptions> = {
  heads: { kind: 'passthrough', default: undefined },
  queryTokens: { kind: 'integer', min: 1, max: MAX_DECODE_QUERY_TOKENS, default: 1 },
  scale: { kind: 'passthrough', default: undefined },
  sas: { kind: 'boolean', default: true },
  // Resolved against the cache's length by turboDecode (resolveSasThreshold).
  sasThreshold: { kind: 'passthrough', default: 'auto' },
  returnLse: { kind: 'boolean', default: false },
  pagesPerSplit: { kind: 'integer', min: 1, max: 1 << 20, default: 16 },
};

/** Validates decode options (`ERR_QATTN_OPTION` for unknown keys and bad values) and fills in the defaults. */
export function resolveTurboDecodeOptions(options: TurboDecodeOptions | undefined): ResolvedTurboDecodeOptions {
  return resolveOptions(TURBO_DECODE_OPTION_TABLE, options, 'turboDecode') as ResolvedTurboDecodeOptions;
}
