import { describe, expect, it } from 'vitest';
import { chooseDecodePagesPerSplit } from './decode-split-schedule.js';

describe('chooseDecodePagesPerSplit', () => {
  const base = { batch: 4, kvHeads: 8, maxPages: 256, targetWorkgroups: 528, maxPagesPerSplit: 16 };

  it('splits a long cache until the device is busy: B4 H8, 16K keys at 64-token pages, 132 units × 4', () => {
    // 32 (sequence, kv head) groups want 17 splits of 256 pages: 16 pages each (capped by maxPagesPerSplit).
    expect(chooseDecodePagesPerSplit(base)).toBe(16);
    expect(chooseDecodePagesPerSplit({ ...base, maxPagesPerSplit: 1 << 20 })).toBe(16);
    expect(chooseDecodePagesPerSplit({ ...base, maxPages: 1024, maxPagesPerSplit: 1 << 20 })).toBe(61);
  });

  it('does not split when the groups alone fill the device', () => {
    expect(chooseDecodePagesPerSplit({ ...base, batch: 128, maxPagesPerSplit: 1 << 20 })).toBe(256);
  });

  it('keeps at least one page per split, also for an empty cache', () => {
    expect(chooseDecodePagesPerSplit({ ...base, maxPages: 3 })).toBe(1);
    expect(chooseDecodePagesPerSplit({ ...base, maxPages: 0 })).toBe(1);
  });

  it('is monotone in the cache length', () => {
    let previous = 0;
    for (let maxPages = 0; maxPages < 2000; maxPages += 7) {
      const pages = chooseDecodePagesPerSplit({ ...base, maxPages, maxPagesPerSplit: 1 << 20 });
      expect(pages).toBeGreaterThanOrEqual(previous);
      previous = pages;
    }
  });
});
