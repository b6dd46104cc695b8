import { type AttentionOptions, type BackendRequest, type OptionTable, resolveOptions } from '@qattn/quant-core';

/**
 * Options of {@link flashInt8Attention}. Every option is a variant of the INT-FlashAttention algorithm
 * (ALGORITHMS.md §1) or a CPU schedule knob; all are validated once, up front, against {@link FLASH_INT8_OPTIONS}.
 */
export interface FlashInt8Options extends AttentionOptions {
  /** Which backend runs the call. `'auto'` (default) takes the fastest one that loads here. */
  backend?: BackendRequest;
  /** P·V precision: `'int8'` (INT8 P and V, INT32 accumulation; the paper's full method) or `'fp16'` (INT8 Q·Kᵀ only). */
  pv?: 'int8' | 'fp16';
  /** Q/K scale granularity: one scale per `'token'` (the paper) or per `'block'` of blockM queries / blockN keys. */
  qkGranularity?: 'token' | 'block';
  /** Subtract K's per-channel mean over tokens before quantizing it (exact: softmax is shift-invariant). */
  smoothK?: boolean;
  /** INT8 P scale: `'global'` fixed 1/127 (the paper) or `'rowmax'`, the row max of P within each key tile. */
  pScale?: 'global' | 'rowmax';
  /**
   * INT8 V scale: per (batch, kvHead) `'head'` (the paper), per (batch, kvHead, channel) `'channel'`, or per
   * (batch, kvHead, block of blockN keys, channel) `'blockChannel'` (the paper's CUDA variant). Ignored by `pv:'fp16'`.
   */
  vGranularity?: 'head' | 'channel' | 'blockChannel';
  /** Subtract V's per-channel mean before quantizing and add it back to the output (exact: P's rows sum to 1). */
  smoothV?: boolean;
  /**
   * Rotate Q and K by the same random-sign Hadamard transform before quantizing them (incoherent processing,
   * FlashAttention-3): exact, spreads outlier channels over their block. Blocks are the largest power of two ≤ 256
   * dividing headDim.
   */
  hadamard?: boolean;
  /** Queries per tile (CPU schedule; also the Q block of `qkGranularity:'block'`). */
  blockM?: number;
  /** Keys per tile (CPU schedule; also the K block of `qkGranularity:'block'` and the V block of `'blockChannel'`). */
  blockN?: number;
}

/** {@link FlashInt8Options} with every default filled in, as backends receive them. */
export type ResolvedFlashInt8Options = Required<Omit<FlashInt8Options, 'scale'>> & { scale: number | undefined };

/**
 * The option table: allowed values and defaults. Defaults were chosen by measurement on the CPU oracle against
 * float64 `@qattn/reference` on its LLM-like data (outlier K channels, attention sink, Student-t V); see the
 * comment on each default.
 */
export const FLASH_INT8_OPTIONS: OptionTable<FlashInt8Options> = {
  causal: { kind: 'boolean', default: false },
  // Validated with the shape by validateAttentionInputs (its default, 1/√headDim, depends on the shape).
  scale: { kind: 'passthrough', default: undefined },
  backend: { kind: 'enum', values: ['auto', 'cpu', 'webgpu', 'cuda'], default: 'auto' },
  pv: { kind: 'enum', values: ['int8', 'fp16'], default: 'int8' },
  qkGranularity: { kind: 'enum', values: ['token', 'block'], default: 'token' },
  smoothK: { kind: 'boolean', default: true },
  pScale: { kind: 'enum', values: ['global', 'rowmax'], default: 'rowmax' },
  vGranularity: { kind: 'enum', values: ['head', 'channel', 'blockChannel'], default: 'blockChannel' },
  smoothV: { kind: 'boolean', default: false },
  hadamard: { kind: 'boolean', default: false },
  blockM: { kind: 'integer', min: 1, max: 1024, default: 64 },
  blockN: { kind: 'integer', min: 1, max: 1024, default: 32 },
};

/** Validates `options` (unknown keys and bad values throw `ERR_QATTN_OPTION`) and fills in the defaults. */
export function resolveFlashInt8Options(options: FlashInt8Options | undefined): ResolvedFlashInt8Options {
  return resolveOptions(FLASH_INT8_OPTIONS, options, 'flashInt8Attention') as ResolvedFlashInt8Options;
}
