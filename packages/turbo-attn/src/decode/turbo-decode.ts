import type { KVCache } from '@qattn/kv-cache';
import { QattnError, assertFinite, assertFloat32Array, resolveCommonOptions } from '@qattn/quant-core';
import { decodeBackendFor } from './decode-backend.js';
import type { AttentionState } from './merge-attention-states.js';
import { resolveSasThreshold } from '../options.js';
import { type TurboDecodeOptions, resolveTurboDecodeOptions } from './options.js';

/** Largest headDim whose INT8 dot products fit INT32: 127² · headDim ≤ 2^31 − 1. */
const MAX_HEAD_DIM = Math.floor((2 ** 31 - 1) / (127 * 127));

function resolveHeads(q: Float32Array, cache: KVCache, queryTokens: number, heads: unknown): number {
  const { batch, kvHeads, headDim } = cache;
  const layout = `q [batch, heads, queryTokens, headDim] = [${batch}, heads, ${queryTokens}, ${headDim}]`;
  const perHead = batch * queryTokens * headDim;
  if (heads !== undefined && (typeof heads !== 'number' || !Number.isInteger(heads) || heads <= 0)) {
    throw new QattnError('ERR_QATTN_SHAPE', `turboDecode: options.heads must be a positive integer, got ${String(heads)}`, { dimension: 'heads', value: heads });
  }
  const resolved = (heads as number | undefined) ?? q.length / perHead;
  if (q.length !== resolved * perHead || !Number.isInteger(resolved) || resolved === 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `turboDecode: q has ${q.length} elements, not ${layout}${heads === undefined ? '' : ` with heads = ${heads}`}`, {
      tensor: 'q',
      length: q.length,
    });
  }
  if (resolved % kvHeads !== 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `turboDecode: q has ${resolved} heads, not a multiple of the cache's ${kvHeads} kv heads (${layout})`, {
      dimension: 'heads',
      heads: resolved,
      kvHeads,
    });
  }
  return resolved;
}

/**
 * Decode attention over a quantized KV cache (`@qattn/kv-cache`): the new tokens' queries attend to everything the
 * cache holds — TurboAttention's inference path. The cache must already hold the new tokens (append their K and V
 * first): query i of a sequence of length L sees keys j ≤ L − queryTokens + i.
 *
 * q is `[batch, heads, queryTokens, headDim]` (batch = the cache's sequences; heads a multiple of its kvHeads, query
 * head h reading kv head ⌊h / (heads/kvHeads)⌋; 1–16 query tokens). The cache's INT4/INT2 pages and INT8 buffer are
 * read as INT8 (integer-domain decompression) with INT8 Q·Kᵀ and P·V; the sink tokens in float32; SAS or exact exp2
 * by option; the keys are split and the partial states merged ({@link mergeAttentionStates}). Resolves to the output
 * `[batch, heads, queryTokens, headDim]`, or `{ out, lse }` with `returnLse: true` (lse `[batch, heads, queryTokens]`,
 * natural log of Σ exp(scale · q·k)). A sequence with fewer tokens than its query rows gives those rows 0 (lse −∞).
 *
 * Rejects with `ERR_QATTN_SHAPE` (q's length or heads do not match the cache), `ERR_QATTN_DTYPE`,
 * `ERR_QATTN_NONFINITE`, `ERR_QATTN_OPTION`, `ERR_QATTN_DISPOSED` (a disposed cache), `ERR_QATTN_UNSUPPORTED`
 * (headDim too large for INT32 dot products), `ERR_QATTN_BACKEND_UNAVAILABLE` (a cache on a backend decode does not
 * run on yet).
 *
 * @example
 * cache.append(kStep, vStep);                            // the new token's K and V: [batch, kvHeads, 1, headDim]
 * const out = await turboDecode(qStep, cache);          // [batch, heads, 1, headDim]
 * const { out, lse } = await turboDecode(q, cache, { queryTokens: 4, returnLse: true });
 */
export function turboDecode(q: Float32Array, cache: KVCache, options: TurboDecodeOptions & { returnLse: true }): Promise<AttentionState>;
export function turboDecode(q: Float32Array, cache: KVCache, options?: TurboDecodeOptions & { returnLse?: false }): Promise<Float32Array>;
export function turboDecode(q: Float32Array, cache: KVCache, options?: TurboDecodeOptions): Promise<Float32Array | AttentionState>;
export async function turboDecode(q: Float32Array, cache: KVCache, options?: TurboDecodeOptions): Promise<Float32Array | AttentionState> {
  const resolved = resolveTurboDecodeOptions(options);
  if (typeof cache !== 'object' || cache === null || typeof cache.storage !== 'function') {
    throw new QattnError('ERR_QATTN_DTYPE', 'turboDecode: cache must be a KVCache from createKVCache (@qattn/kv-cache)');
  }
  if (cache.disposed) throw new QattnError('ERR_QATTN_DISPOSED', 'turboDecode: the cache has been disposed');
  assertFloat32Array('q', q);
  const heads = resolveHeads(q, cache, resolved.queryTokens, resolved.heads);
  assertFinite('q', q);
  const { scale } = resolveCommonOptions({ scale: resolved.scale }, cache.headDim);
  if (cache.headDim > MAX_HEAD_DIM) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `turboDecode: headDim ${cache.headDim} exceeds ${MAX_HEAD_DIM}, where INT8 dot products overflow INT32`, {
      headDim: cache.headDim,
    });
  }
  const backend = await decodeBackendFor(cache);
  const state = await backend.decode(q, cache, {
    heads,
    queryTokens: resolved.queryTokens,
    scale,
    pagesPerSplit: resolved.pagesPerSplit,
    variant: { exponent: resolved.sas ? 'sas' : 'exp2', sasThreshold: resolveSasThreshold(resolved.sasThreshold, cache.length, 'turboDecode'), skipSparseTiles: resolved.sas },
  });
  return resolved.returnLse ? state : state.out;
}
