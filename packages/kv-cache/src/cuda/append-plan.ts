import { QattnError } from '@qattn/quant-core';
import { tokenPlacement } from '../layout.js';
import type { KVCacheConfig } from '../options.js';

/** One sequence of an append: its index and its length before the append. */
export interface AppendEntry {
  readonly sequence: number;
  readonly length: number;
}

/** A page that fills during an append, to compress: page `page` of entry `entry`'s sequence. */
export interface PageJob {
  readonly entry: number;
  readonly page: number;
}

/** What an append does, decided on the host before anything changes (pure: see {@link planAppend}). */
export interface AppendPlan {
  readonly entries: readonly AppendEntry[];
  /** Tokens appended to every entry. */
  readonly tokens: number;
  /** Pages that fill, by sequence and then page order: the order in which the CPU cache compresses them. */
  readonly jobs: readonly PageJob[];
  /** Page-table row length the sequences need afterwards. */
  readonly pagesNeeded: number;
}

/**
 * Plans an append of `tokens` tokens to each of `sequences` (lengths before: `lengths`): the pages that fill, in the
 * CPU cache's order. Throws `ERR_QATTN_SHAPE` when a sequence would pass the cache's capacity.
 */
export function planAppend(config: KVCacheConfig, lengths: ArrayLike<number>, sequences: readonly number[], tokens: number): AppendPlan {
  const { sinkTokens, pageSize, capacity } = config;
  const entries: AppendEntry[] = [];
  const jobs: PageJob[] = [];
  let pagesNeeded = 0;
  sequences.forEach((sequence, entry) => {
    const length = lengths[sequence];
    const after = length + tokens;
    if (capacity !== null && after > capacity) {
      throw new QattnError('ERR_QATTN_SHAPE', `KVCache.append: sequence ${sequence} holds ${length} tokens; ${tokens} more exceed its capacity of ${capacity}`, {
        sequence,
        length,
        tokens,
        capacity,
      });
    }
    entries.push({ sequence, length });
    const before = tokenPlacement(length, sinkTokens, pageSize).pages;
    const pagesAfter = tokenPlacement(after, sinkTokens, pageSize).pages;
    for (let page = before; page < pagesAfter; page++) jobs.push({ entry, page });
    pagesNeeded = Math.max(pagesNeeded, pagesAfter);
  });
  return { entries, tokens, jobs, pagesNeeded };
}

/** Most pages an append of `tokens` tokens to `entries` sequences can fill (sizes the plan buffer of a workspace). */
export function maxPageJobs(entries: number, tokens: number, pageSize: number): number {
  return entries * (Math.floor(tokens / pageSize) + 1);
}

/** int32 words of an encoded plan: [sequence, length] per entry, then per job [entry, page, 0, K slots, V slots]. */
export function planWords(entries: number, jobs: number, kvHeads: number): number {
  return 2 * entries + jobs * (3 + 2 * kvHeads);
}

/**
 * Encodes a plan for the append kernels (native/kv_cache_args.h). `slots[tensor][job]` are each page's pool slots in
 * the order the kernel consumes them: the wide pool's (kvHeads − low) slots, then the low 2-bit pool's.
 */
export function encodePlan(plan: AppendPlan, kvHeads: number, slots: { k: readonly Int32Array[]; v: readonly Int32Array[] }, out: Int32Array): Int32Array {
  out.fill(0);
  plan.entries.forEach(({ sequence, length }, e) => {
    out[2 * e] = sequence;
    out[2 * e + 1] = length;
  });
  const stride = 3 + 2 * kvHeads;
  plan.jobs.forEach(({ entry, page }, j) => {
    const base = 2 * plan.entries.length + j * stride;
    out[base] = entry;
    out[base + 1] = page;
    out.set(slots.k[j], base + 3);
    out.set(slots.v[j], base + 3 + kvHeads);
  });
  return out;
}

/** PagePool/TensorStore's page-table growth: to max(needed, ⌈1.5 × current⌉) when `needed` does not fit. */
export function grownMaxPages(current: number, needed: number): number {
  return needed > current ? Math.max(needed, Math.ceil(current * 1.5)) : current;
}

/** Dynamic shared memory of the page-compression kernel (native `kv_compress_smem_bytes`). */
export function compressSharedBytes(kvHeads: number, headDim: number, pageSize: number): number {
  return 8 * (32 + kvHeads) + 4 * 2 * Math.max(headDim, pageSize) + pageSize * headDim;
}

/**
 * Shared memory the CUDA cache allows its compression kernel: 99 KiB, the opt-in limit of the smallest Ampere parts
 * (sm_86/89); A100 and H100/H200 allow more, but a cache's shape should not depend on the card.
 */
export const MAX_COMPRESS_SHARED_BYTES = 99 * 1024;

/** Why the CUDA cache cannot hold `config` (null when it can): one CTA row per head dim, one page per CTA. */
export function cudaUnsupportedReason(config: KVCacheConfig): string | null {
  if (config.headDim > 1024) return `headDim ${config.headDim} > 1024 (one thread per channel)`;
  const bytes = compressSharedBytes(config.kvHeads, config.headDim, config.pageSize);
  if (bytes > MAX_COMPRESS_SHARED_BYTES) {
    return `a page of ${config.pageSize} tokens × ${config.headDim} channels needs ${bytes} bytes of shared memory to compress (at most ${MAX_COMPRESS_SHARED_BYTES})`;
  }
  return null;
}
