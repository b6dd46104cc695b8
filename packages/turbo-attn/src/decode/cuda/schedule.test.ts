import { describe, expect, it } from 'vitest';
import { splitKVSchedule } from '../split-kv-schedule.js';
import { DECODE_MAX_SPLITS, type DecodePath, cudaDecodeSchedule, decodeMmaRingPages, decodeMmaSmemBytes, decodeSmemBytes } from './schedule.js';

const bench = (lengths: number[], heads = 32, queryTokens = 1, smCount = 132, path: DecodePath = 'simt') =>
  cudaDecodeSchedule({ lengths, kvHeads: 8, heads, queryTokens, pageSize: 64, sinkTokens: 4, smCount, headDim: 128, path });
const mma = (lengths: number[], heads = 32, queryTokens = 1) => bench(lengths, heads, queryTokens, 132, 'mma');

describe('cudaDecodeSchedule (tensor-core path)', () => {
  it('is the default where it serves the layout: head dims 64/128, pages of 16/32/64, ≤ 64 sinks', () => {
    const auto = (headDim: number, pageSize: number, sinkTokens = 4) =>
      cudaDecodeSchedule({ lengths: [1000], kvHeads: 2, heads: 8, queryTokens: 1, pageSize, sinkTokens, smCount: 132, headDim }).path;
    expect([auto(128, 64), auto(64, 16), auto(128, 32)]).toEqual(['mma', 'mma', 'mma']);
    expect([auto(96, 64), auto(128, 128), auto(128, 48), auto(64, 16, 65)]).toEqual(['simt', 'simt', 'simt', 'simt']);
  });
  it('rejects a forced tensor-core path on a layout it does not serve', () => {
    expect(() => cudaDecodeSchedule({ lengths: [10], kvHeads: 1, heads: 1, queryTokens: 1, pageSize: 128, sinkTokens: 4, smCount: 1, headDim: 128, path: 'mma' })).toThrow(
      expect.objectContaining({ code: 'ERR_QATTN_UNSUPPORTED' }),
    );
  });
  it('fills an H200 in one wave at B4 H32/8: 3 CTAs per SM, split count rounded down to whole CTAs', () => {
    // 132·3·4 / 32 groups = 49 warps → 48 splits: 12 CTAs of 4 per group, 384 CTAs for 396 slots.
    expect(mma([65536, 65536, 65536, 65536])).toEqual({ path: 'mma', rowsTotal: 4, rowsPerTile: 4, rowTiles: 1, pagesPerSplit: 22, maxSplits: 47, splitCapacity: 48 });
    expect(mma([16384, 16384, 16384, 16384])).toMatchObject({ pagesPerSplit: 6, maxSplits: 43 });
    // INT8 pages take the same schedule: their ring holds one page in flight instead of two, 4 warps per CTA too.
  });
  it('cuts rows into balanced tiles of at most 8 (the MMA n): GQA 8 × 16 query tokens → 16 tiles of 8; 4 × 5 → 3 of 7', () => {
    expect(mma([1000], 64, 16)).toMatchObject({ rowsTotal: 128, rowTiles: 16, rowsPerTile: 8 });
    expect(mma([1000], 32, 5)).toMatchObject({ rowsTotal: 20, rowTiles: 3, rowsPerTile: 7 });
  });
});

describe('decodeMmaSmemBytes', () => {
  it('sums the block rows and 4 warps of K/V item rings plus sink scores (native/decode_mma.h): hd128, pages of 64, 4 sinks', () => {
    // q̂ INT8, rotated q fp32, s_q / δ / last key, the combine's row max / sum, 4 mbarriers per warp, the last-CTA flag
    const block = 1024 + 4096 + 5 * 32 + 128 + 16;
    const scratch = 128; // 8 rows × 4 sink scores
    // INT4 room: two pages in flight; K item = K codes, K step/zero, V step/zero, one scale each; V item = V codes.
    const pair4 = 4096 + 128 + 128 + 64 + 64 + 16 + 16 + 4096;
    expect(decodeMmaSmemBytes(128, 64, 4, 4)).toBe(block + 4 * (2 * pair4 + scratch));
    // INT8 room: one page in flight (twice the codes, a scale per token): the ring is as large, so 4 warps per CTA too.
    const pair8 = 8192 + 128 + 128 + 64 + 64 + 256 + 256 + 8192;
    expect(decodeMmaSmemBytes(128, 64, 4, 8)).toBe(block + 4 * (pair8 + scratch));
    expect(decodeMmaSmemBytes(128, 64, 4, 8)).toBeLessThan(228 * 1024 / 3 - 1024); // 3 CTAs per SM (1 KB reserved each)
  });
  it('gives the INT8 buffer room in every ring (native decode_mma_buffer_fits): 2·P·D codes, 2·P scales in the meta', () => {
    const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;
    for (const headDim of [64, 128]) {
      for (const pageSize of [16, 32, 64]) {
        for (const roomBits of [4, 8] as const) {
          const label = `hd${headDim} P${pageSize} room ${roomBits}`;
          const block = 8 * headDim + 32 * headDim + 5 * 32 + 128 + 16; // query rows, row constants, mbarriers, flag
          const ring = (decodeMmaSmemBytes(headDim, pageSize, 0, roomBits) - block) / 4; // no sink: a warp's ring alone
          const slots = decodeMmaRingPages(roomBits);
          const codes = slots * 2 * pageSize * headDim * roomBits / 8; // the warp's codes (K and V of every slot)
          const scales = roomBits === 8 ? pageSize * 4 : 4;
          const meta = slots * (2 * align16(headDim) + 2 * align16(pageSize) + 2 * align16(scales));
          expect(codes + meta, label).toBe(ring);
          expect(codes % 1024, `${label}: whole 1024-byte blocks (TMA's swizzle period)`).toBe(0);
          expect(codes, label).toBeGreaterThanOrEqual(2 * pageSize * headDim);
          expect(meta, label).toBeGreaterThanOrEqual(8 * pageSize);
        }
      }
    }
  });
});

describe('cudaDecodeSchedule (SIMT path)', () => {
  it('fills an H200 (132 SMs) at B4 H32/8: 4 CTAs per SM over batch·kvHeads = 32 CTAs per split', () => {
    expect(bench([65536, 65536, 65536, 65536])).toEqual({ path: 'simt', rowsTotal: 4, rowsPerTile: 4, rowTiles: 1, pagesPerSplit: 61, maxSplits: 17, splitCapacity: 17 });
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
  it('sizes the workspace for every cache length of a shape: maxSplits ≤ splitCapacity, which the lengths do not change', () => {
    for (const path of ['simt', 'mma'] as const) {
      for (const [heads, queryTokens, batch] of [[32, 1, 4], [8, 1, 1], [64, 16, 2], [32, 5, 1]]) {
        const capacity = bench(new Array<number>(batch).fill(0), heads, queryTokens, 132, path).splitCapacity;
        for (let length = 0; length <= 4 + 64 * 3000; length += 64 * 37 + 11) {
          const s = bench(Array.from({ length: batch }, (_, b) => Math.max(0, length - 1000 * b)), heads, queryTokens, 132, path);
          expect(s.splitCapacity).toBe(capacity);
          expect(s.maxSplits).toBeLessThanOrEqual(capacity);
        }
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
