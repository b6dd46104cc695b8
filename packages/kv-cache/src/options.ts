import { type BackendRequest, type OptionTable, QattnError, resolveOptions } from '@qattn/quant-core';

/** Widths a compressed page can have: INT8 (`bits: 8` caches), or progressive INT4 / INT2 (`bits: 4` caches). */
export type PageBits = 8 | 4 | 2;

/** Share of kv heads stored at 2 bits per page, for K and V separately. */
export interface LowBitFraction {
  k: number;
  v: number;
}

/**
 * What {@link createKVCache} takes. The shape (`batch`, `kvHeads`, `headDim`) is required; every other field has a
 * default chosen by measurement (the README's layout table, `scripts/measure-layouts.mjs`).
 */
export interface KVCacheOptions {
  /** Sequences the cache holds (the batch of a decode step); each has its own length. */
  batch: number;
  kvHeads: number;
  headDim: number;
  /** Where the cache lives. `'auto'` (default) takes the first that loads: cuda > webgpu > cpu. */
  backend?: BackendRequest;
  /**
   * Width of the compressed pages: 4 (default: progressive INT4, optionally some heads at INT2) or 8 (INT8 pages with
   * one scale per token: 0.2–0.5% attention error instead of 2–5%, 1.94× smaller than fp16 instead of 3.79×).
   */
  bits?: 8 | 4;
  /**
   * Head-wise mixed precision (TurboAttention): the share of kv heads stored at 2 bits in each page, the lowest by
   * priority (gap × std of the page's values). A number applies to K and V alike (the paper's mix is 0.5);
   * `{ k, v }` sets them apart. Default 0 (every head at 4 bits). Measured on LLM-like data (README): `{ k: 0, v: 0.75 }`
   * is 4.61× smaller than fp16 at 5–9% attention error up to 8K tokens (14% at 16K), the paper's 0.5 4.96× at 9–15%
   * (20% at 16K): INT2 K costs far more than INT2 V. Requires `bits: 4`.
   */
  lowBitFraction?: number | LowBitFraction;
  /**
   * Tokens per page, a multiple of 16 in [16, 1024]. Default 64 (TurboAttention's block): 32 is 0.2–0.3 points more
   * accurate but 3.68× smaller than fp16 instead of 3.79×; the newest `pageSize − 1` tokens at most wait in the INT8
   * buffer.
   */
  pageSize?: number;
  /**
   * The first tokens of each sequence (the attention sink), kept in float32 instead of being quantized. Default 4:
   * without a sink token the 4-bit cache is 11–14% off float64 instead of 2–5%.
   */
  sinkTokens?: number;
  /**
   * Rotate K and V by a random-sign Hadamard matrix before quantizing (decode rotates q and un-rotates the output, so
   * attention is unchanged): spreads outlier channels and heavy tails over all channels, 25–30% less error at 4 bits.
   * Default: on when headDim is a power of two (required for `true`).
   */
  hadamard?: boolean;
  /**
   * Fixed capacity in tokens per sequence: every page is allocated up front and appending past it is an error.
   * Default: none (pages are allocated as sequences grow).
   */
  capacity?: number;
}

/** {@link KVCacheOptions} validated, with every default resolved. */
export interface KVCacheConfig {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly backend: BackendRequest;
  readonly bits: 8 | 4;
  readonly lowBitFraction: Readonly<LowBitFraction>;
  readonly pageSize: number;
  readonly sinkTokens: number;
  readonly hadamard: boolean;
  /** Tokens per sequence, or null for a growing cache. */
  readonly capacity: number | null;
}

const TABLE: OptionTable<KVCacheOptions> = {
  // The shape is checked separately (ERR_QATTN_SHAPE, not ERR_QATTN_OPTION).
  batch: { kind: 'passthrough', default: undefined as unknown as number },
  kvHeads: { kind: 'passthrough', default: undefined as unknown as number },
  headDim: { kind: 'passthrough', default: undefined as unknown as number },
  backend: { kind: 'enum', values: ['auto', 'cpu', 'webgpu', 'cuda'], default: 'auto' },
  bits: { kind: 'enum', values: [8, 4], default: 4 },
  lowBitFraction: { kind: 'passthrough', default: 0 },
  // A multiple of 16 makes every page a whole number of 32-bit words at 2 bits, for any headDim.
  pageSize: { kind: 'integer', min: 16, max: 1024, multipleOf: 16, default: 64 },
  sinkTokens: { kind: 'integer', min: 0, max: 1024, default: 4 },
  hadamard: { kind: 'passthrough', default: undefined },
  capacity: { kind: 'passthrough', default: undefined },
};

/** True for 1, 2, 4, 8, … */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function checkDimension(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `createKVCache: ${name} must be a positive integer, got ${String(value)} (k/v [batch, kvHeads, tokens, headDim])`, {
      dimension: name,
      value,
    });
  }
  return value;
}

function checkFraction(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new QattnError('ERR_QATTN_OPTION', `createKVCache: options.${name} must be a number in [0, 1], got ${JSON.stringify(value)}`, {
      option: name,
      value,
    });
  }
  return value;
}

/** Validates the options of {@link createKVCache} once: `ERR_QATTN_SHAPE` for the shape, `ERR_QATTN_OPTION` otherwise. */
export function resolveKVCacheOptions(options: KVCacheOptions): KVCacheConfig {
  if (typeof options !== 'object' || options === null) {
    throw new QattnError('ERR_QATTN_SHAPE', 'createKVCache: options must be an object { batch, kvHeads, headDim, … }');
  }
  const batch = checkDimension('batch', options.batch);
  const kvHeads = checkDimension('kvHeads', options.kvHeads);
  const headDim = checkDimension('headDim', options.headDim);
  const resolved = resolveOptions(TABLE, options, 'createKVCache');

  const fraction = resolved.lowBitFraction;
  const lowBitFraction =
    typeof fraction === 'object' && fraction !== null
      ? { k: checkFraction('lowBitFraction.k', fraction.k), v: checkFraction('lowBitFraction.v', fraction.v) }
      : { k: checkFraction('lowBitFraction', fraction), v: fraction as number };
  if (resolved.bits === 8 && (lowBitFraction.k > 0 || lowBitFraction.v > 0)) {
    throw new QattnError('ERR_QATTN_OPTION', 'createKVCache: options.lowBitFraction needs bits: 4 (INT8 pages have no 2-bit heads)', {
      option: 'lowBitFraction',
    });
  }

  const hadamard = resolved.hadamard ?? isPowerOfTwo(headDim);
  if (typeof hadamard !== 'boolean') {
    throw new QattnError('ERR_QATTN_OPTION', `createKVCache: options.hadamard must be a boolean, got ${JSON.stringify(hadamard)}`, { option: 'hadamard' });
  }
  if (hadamard && !isPowerOfTwo(headDim)) {
    throw new QattnError('ERR_QATTN_OPTION', `createKVCache: options.hadamard needs a power-of-two headDim, got ${headDim}`, { option: 'hadamard' });
  }

  const capacity = resolved.capacity ?? null;
  if (capacity !== null && (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity <= 0 || capacity > 2 ** 30)) {
    throw new QattnError('ERR_QATTN_OPTION', `createKVCache: options.capacity must be a positive integer (tokens per sequence), got ${JSON.stringify(capacity)}`, {
      option: 'capacity',
    });
  }
  return {
    batch,
    kvHeads,
    headDim,
    backend: resolved.backend,
    bits: resolved.bits,
    lowBitFraction: Object.freeze(lowBitFraction),
    pageSize: resolved.pageSize,
    sinkTokens: resolved.sinkTokens,
    hadamard,
    capacity,
  };
}
