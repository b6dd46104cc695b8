import type { TokenPlacement } from '@qattn/kv-cache';

/**
 * One split of a sequence's keys for split-KV decoding: a run of pages, plus the sink tokens (first split) and the
 * INT8 buffer (last split). Each split yields a partial attention state; the states are merged at the end.
 */
export interface DecodeSplit {
  /** First page of the split. */
  firstPage: number;
  /** Pages in the split (0 when the sequence has none). */
  pageCount: number;
  /** Whether the split also covers the sink tokens. */
  sink: boolean;
  /** Whether the split also covers the INT8 buffer. */
  buffer: boolean;
}

/**
 * Splits a sequence's keys into ⌈pages / pagesPerSplit⌉ splits (at least one) of consecutive pages; the sink joins
 * the first, the buffer the last (pure; a GPU schedule picks pagesPerSplit from the sequence length and the number of
 * SMs, the cpu oracle uses the option).
 */
export function splitKVSchedule(placement: TokenPlacement, pagesPerSplit: number): DecodeSplit[] {
  const splits = Math.max(1, Math.ceil(placement.pages / pagesPerSplit));
  return Array.from({ length: splits }, (_, s) => ({
    firstPage: s * pagesPerSplit,
    pageCount: Math.max(0, Math.min(pagesPerSplit, placement.pages - s * pagesPerSplit)),
    sink: s === 0,
    buffer: s === splits - 1,
  }));
}
