/**
 * The caches the decode-cache preset fills and decodes over: named `createKVCache` options of `@qattn/kv-cache`. Every
 * other cache option (page size, sink tokens, Hadamard rotation) stays at the package default.
 */
import type { LowBitFraction } from '@qattn/kv-cache';

/** Names of the cache kinds, in table order. */
export const CACHE_KIND_NAMES = ['int4', 'int8', 'mix', 'mix-paper'] as const;
export type CacheKindName = (typeof CACHE_KIND_NAMES)[number];

/** One cache kind: the options it adds to `createKVCache`, and what it is for the table's legend. */
export interface CacheKind {
  name: CacheKindName;
  bits: 4 | 8;
  /** Omitted: every head at `bits` (the package default, 0). */
  lowBitFraction?: number | LowBitFraction;
  description: string;
}

export const CACHE_KINDS: Record<CacheKindName, CacheKind> = {
  int4: { name: 'int4', bits: 4, description: 'progressive INT4 pages (the kv-cache default)' },
  int8: { name: 'int8', bits: 8, description: 'INT8 pages (`bits: 8`)' },
  // The kv-cache README's choice for the 4/2-bit mix: INT2 K costs far more than INT2 V, so K stays at 4 bits and
  // 3/4 of the V heads drop to 2 — the least error it measured at ≥ 4.4× against fp16.
  mix: { name: 'mix', bits: 4, lowBitFraction: { k: 0, v: 0.75 }, description: '4/2-bit head-wise mix: K at 4 bits, 3/4 of the V heads at 2 bits (`lowBitFraction: { k: 0, v: 0.75 }`)' },
  'mix-paper': { name: 'mix-paper', bits: 4, lowBitFraction: 0.5, description: "the paper's 4/2-bit mix: half of the K and V heads at 2 bits (`lowBitFraction: 0.5`)" },
};

/** The options a kind adds to `createKVCache` (bits, and lowBitFraction when it has one). */
export function cacheKindOptions(kind: CacheKind): { bits: 4 | 8; lowBitFraction?: number | LowBitFraction } {
  return kind.lowBitFraction === undefined ? { bits: kind.bits } : { bits: kind.bits, lowBitFraction: kind.lowBitFraction };
}

/**
 * Parses `--caches`: a comma list of kind names, or `all`. Returns the kinds in table order without duplicates;
 * throws a RangeError naming an unknown kind (the CLI turns it into a usage error).
 */
export function parseCacheKinds(text: string): CacheKindName[] {
  if (text.trim() === 'all') return [...CACHE_KIND_NAMES];
  const items = text.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === '')) throw new RangeError(`'${text}' is not a comma-separated list`);
  for (const item of items) {
    if (!(CACHE_KIND_NAMES as readonly string[]).includes(item)) throw new RangeError(`unknown cache kind '${item}' (choose from ${CACHE_KIND_NAMES.join(', ')}, or all)`);
  }
  return CACHE_KIND_NAMES.filter((name) => items.includes(name));
}
