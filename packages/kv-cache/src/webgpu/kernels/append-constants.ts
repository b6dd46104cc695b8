import { MIN_SCALE } from '@qattn/quant-core';
import { wgslConstants } from '@qattn/webgpu-runtime';
import type { KVCacheConfig } from '../../options.js';

/** Invocations per workgroup of every append kernel (rows of up to 1024 channels are looped over). */
export const APPEND_WORKGROUP = 64;

/** u32 words per appended sequence in the sequence table: b, length before, first job, pages before, pages after, pad. */
export const SEQUENCE_WORDS = 8;

/** u32 words per flush job before its slots: b, page, appended-sequence index, pad; then one slot per kv head. */
export const JOB_HEADER_WORDS = 4;

/** u32 words of a (job, kv head) state: block scale (f32 bits), priority (f32 bits), slot, bits; then pageSize token scales. */
export const JOB_STATE_HEADER_WORDS = 4;

/**
 * The uniform every append kernel reads (`struct Params`): appended sequences, tokens per sequence, flush jobs and the
 * page tables' row length — the per-call numbers; everything of the cache's shape is a WGSL constant.
 */
export const APPEND_PARAMS_WGSL = `struct Params {
  sequences: u32,
  tokens: u32,
  jobs: u32,
  max_pages: u32,
}`;

/** The WGSL constants of a cache's shape shared by the append kernels. */
export function appendConstants(config: KVCacheConfig, extra: Record<string, number | boolean | { f32: number }> = {}): string {
  const { kvHeads, headDim, pageSize, sinkTokens } = config;
  return wgslConstants({
    WG: APPEND_WORKGROUP,
    KV_HEADS: kvHeads,
    HEAD_DIM: headDim,
    HEAD_WORDS: headDim / 4,
    PAGE_SIZE: pageSize,
    SINK_TOKENS: sinkTokens,
    SEQUENCE_WORDS,
    JOB_HEADER_WORDS,
    JOB_WORDS: JOB_HEADER_WORDS + kvHeads,
    STATE_HEADER_WORDS: JOB_STATE_HEADER_WORDS,
    STATE_WORDS: JOB_STATE_HEADER_WORDS + pageSize,
    MIN_SCALE: { f32: MIN_SCALE },
    ...extra,
  });
}

/** Byte `e` of a packed word as a signed int8. */
export const INT8_BYTE_WGSL = `fn int8_byte(word: u32, e: u32) -> i32 {
  return bitcast<i32>(word << (24u - 8u * e)) >> 24u;
}`;
