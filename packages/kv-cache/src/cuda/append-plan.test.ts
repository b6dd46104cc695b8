import { describe, expect, it } from 'vitest';
import { resolveKVCacheOptions } from '../options.js';
import { PagePool } from '../page-pool.js';
import { compressSharedBytes, cudaUnsupportedReason, encodePlan, grownMaxPages, maxPageJobs, planAppend, planWords } from './append-plan.js';
import { SlotFreeList } from '../slot-free-list.js';

const config = resolveKVCacheOptions({ batch: 3, kvHeads: 2, headDim: 16, pageSize: 16, sinkTokens: 4 });

describe('planAppend (pure)', () => {
  it('lists the pages that fill, sequence by sequence, in the CPU cache’s order', () => {
    const plan = planAppend(config, [0, 19, 35], [0, 1, 2], 30);
    // 0 → 30: page 0 (tokens 4..19); 19 → 49: pages 0, 1 (tokens 4..35); 35 → 65: pages 1, 2, 3 (.. 67 > 65: pages 1, 2)
    expect(plan.jobs).toEqual([
      { entry: 0, page: 0 },
      { entry: 1, page: 0 },
      { entry: 1, page: 1 },
      { entry: 2, page: 1 },
      { entry: 2, page: 2 },
    ]);
    expect(plan.pagesNeeded).toBe(3);
    expect(plan.jobs.length).toBeLessThanOrEqual(maxPageJobs(3, 30, 16));
  });

  it('fills no page inside the sink, and one page per pageSize tokens after it', () => {
    expect(planAppend(config, [0], [0], 4).jobs).toEqual([]);
    expect(planAppend(config, [0], [0], 20).jobs).toEqual([{ entry: 0, page: 0 }]);
    expect(planAppend(config, [19], [0], 1).jobs).toEqual([{ entry: 0, page: 0 }]);
    expect(planAppend(config, [20], [0], 15).jobs).toEqual([]);
  });

  it('bounds the page jobs of any starting length', () => {
    for (let length = 0; length < 50; length++) {
      for (const tokens of [1, 15, 16, 17, 40]) {
        expect(planAppend(config, [length], [0], tokens).jobs.length).toBeLessThanOrEqual(maxPageJobs(1, tokens, 16));
      }
    }
  });

  it('rejects passing the capacity before planning anything', () => {
    const fixed = resolveKVCacheOptions({ batch: 1, kvHeads: 2, headDim: 16, capacity: 40 });
    expect(() => planAppend(fixed, [30], [0], 11)).toThrow(/capacity of 40/);
  });

  it('encodes [sequence, length] per entry, then [entry, page, 0, K slots, V slots] per job', () => {
    const plan = planAppend(config, [0, 0, 19], [1, 2], 1);
    const out = encodePlan(plan, 2, { k: [Int32Array.of(7, 8)], v: [Int32Array.of(9, 10)] }, new Int32Array(planWords(2, 1, 2) + 3));
    expect(Array.from(out)).toEqual([1, 0, 2, 19, 1, 0, 0, 7, 8, 9, 10, 0, 0, 0]);
  });

  it('grows page tables as TensorStore does, and sizes the compression kernel’s shared memory', () => {
    expect(grownMaxPages(0, 3)).toBe(3);
    expect(grownMaxPages(10, 11)).toBe(15);
    expect(grownMaxPages(10, 10)).toBe(10);
    expect(compressSharedBytes(8, 128, 64)).toBe(8 * 40 + 8 * 128 + 64 * 128);
    expect(cudaUnsupportedReason(resolveKVCacheOptions({ batch: 1, kvHeads: 8, headDim: 128 }))).toBeNull();
    expect(cudaUnsupportedReason(resolveKVCacheOptions({ batch: 1, kvHeads: 8, headDim: 128, pageSize: 1024 }))).toMatch(/shared memory/);
  });
});

describe('SlotFreeList', () => {
  it('hands out, grows and takes back slots exactly as PagePool does', () => {
    const pool = new PagePool(4, 16, 16, 16, 1, 2, true);
    const list = new SlotFreeList(4, 2, true);
    const script: [string, number][] = [['a', 0], ['a', 0], ['r', 5], ['a', 0], ['r', 1], ['a', 0], ['a', 0], ['r', 4], ['a', 0], ['a', 0]];
    const taken: number[] = [];
    for (const [op, count] of script) {
      if (op === 'r') {
        pool.reserve(count);
        list.reserve(count);
        expect(list.slots).toBe(pool.slots);
      } else {
        const slot = pool.allocate();
        expect(list.allocate()).toBe(slot);
        taken.push(slot);
        if (taken.length === 3) {
          pool.release(taken[1]);
          list.release(taken[1]);
        }
      }
      expect(list.used).toBe(pool.used);
    }
  });

  it('never grows a fixed pool', () => {
    const list = new SlotFreeList(8, 2, false);
    expect(() => list.reserve(3)).toThrow(/pool is full/);
    expect(list.slots).toBe(2);
  });
});
