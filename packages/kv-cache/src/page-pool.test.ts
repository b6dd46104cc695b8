import { describe, expect, it } from 'vitest';
import { PagePool } from './page-pool.js';
import { expectCode } from './test-helpers.js';

describe('PagePool', () => {
  it('hands out the lowest free slot and reuses released ones', () => {
    const pool = new PagePool(4, 16, 8, 8, 1, 3, false);
    expect([pool.allocate(), pool.allocate()]).toEqual([0, 1]);
    pool.release(0);
    expect(pool.allocate()).toBe(0);
    expect(pool.allocate()).toBe(2);
    expect(pool.used).toBe(3);
    expectCode(() => pool.allocate(), 'ERR_QATTN_SHAPE', 'full');
    expectCode(() => pool.reserve(1), 'ERR_QATTN_SHAPE', 'full');
  });

  it('grows keeping every page and the order of free slots', () => {
    const pool = new PagePool(2, 16, 4, 4, 1, 2, true);
    const first = pool.allocate();
    pool.storage().codes[first * pool.wordsPerPage] = 0xdeadbeef;
    pool.storage().scales[first] = 0.5;
    pool.reserve(5);
    expect(pool.slots).toBe(6);
    expect(pool.storage().codes[first * pool.wordsPerPage]).toBe(0xdeadbeef);
    expect(pool.storage().scales[first]).toBe(0.5);
    expect([1, 2, 3, 4, 5].map(() => pool.allocate())).toEqual([1, 2, 3, 4, 5]);
    // 16 tokens × 4 channels × 2 bits = 4 words, 4 step + 4 zero bytes, 1 scale per slot.
    expect(pool.bytes()).toBe(6 * (4 * 4 + 4 + 4 + 4));
  });

  it('grows by at least half its size, so one-page reservations amortize', () => {
    const pool = new PagePool(4, 16, 8, 8, 1, 10, true);
    for (let i = 0; i < 10; i++) pool.allocate();
    pool.reserve(1);
    expect(pool.slots).toBe(15);
  });
});
