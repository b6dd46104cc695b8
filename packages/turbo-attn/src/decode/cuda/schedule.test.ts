import { describe, expect, it } from 'vitest';
import { splitKVSchedule } from '../split-kv-schedule.js';
import { DECODE_MAX_SPLITS, cudaDecodeSchedule, decodeSmemBytes } from './schedule.js';

const bench = (lengths: number[], heads = 32, queryTokens = 1, smCount = 132) =>
  cudaDecodeSchedule({ lengths, kvHeads: 8, heads, queryTokens, pageSize: 64, sinkTokens: 4, smCount });

describe('cudaDecodeSchedule', () => {
  it('fills an H200 (132 SMs) at B4 H32/8: 4 CTAs per SM over batch·kvHeads = 32 CTAs per split', () => {
    expect(bench([65536, 65536, 65536, 65536])).toEqual({ rowsTotal: 4, rowsPerTile: 4, rowTiles: 1, pagesPerSplit: 61, maxSplits: 17 });
    expect(bench([4096, 4096, 4096, 4096])).toMatchObject({ pagesPerSplit: 4, maxSplits: 16 });
  });
  it('keeps at least 2 pages per split and one split for a sequence without pages', () => {
    expect(bench([200])).toMatchObject({ pagesPerSplit: 2, maxSplits: 2 }); // 3 pages
    expect(bench([3, 0])).toMatchObject({ pagesPerSplit: 1, maxSplits: 1 });
  });
  it('cuts rows into balanced tiles of at most 16 (GQA 8 × 16 query tokens: 8 tiles of 16; 4 × 5: 2 of 10)', () => {
    expect(bench([1000], 64, 16)).toMatchObject({ rowsTotal: 128, rowTiles: 8, rowsPerTile: 16 });
    expect(bench([1000], 32, 5)).toMatchObject({ rowsTotal: 20, rowTiles: 2, rowsPerTile: 10 });
  });
  it('covers every page of every sequence with the splits splitKVSchedule makes, within the workspace', () => {
    for (const lengths of [[1, 77, 5000], [70000, 64, 0], [4 + 64 * 1024 * 3]]) {
      const s = bench(lengths, 8);
      expect(s.maxSplits).toBeLessThanOrEqual(DECODE_MAX_SPLITS);
      for (const length of lengths) {
        const pages = Math.floor(Math.max(0, length - 4) / 64);
        const splits = splitKVSchedule({ sinkTokens: Math.min(length, 4), pages, bufferTokens: Math.max(0, length - 4) % 64 }, s.pagesPerSplit);
        expect(splits.length).toBeLessThanOrEqual(s.maxSplits);
        expect(splits.reduce((n, split) => n + split.pageCount, 0)).toBe(pages);
      }
    }
  });
  it('is pure: the same input gives the same schedule', () => {
    expect(bench([12345, 678])).toEqual(bench([12345, 678]));
  });
});

describe('decodeSmemBytes', () => {
  it('sums 16-byte-aligned regions (native/decode_smem_layout.h): 4 rows, hd128, pages of 64, 4 sinks', () => {
    // q 512 + K 64·(128+4) + V 128·(64+4) (rows padded by a word) + P 256 + q_rot 2048 + scores 1024 + O 2048 + 6 row
    // arrays of 16.
    expect(decodeSmemBytes(4, 128, 64, 4)).toBe(512 + 8448 + 8704 + 256 + 2048 + 1024 + 2048 + 6 * 16);
  });
});
