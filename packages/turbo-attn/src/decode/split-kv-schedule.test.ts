import { describe, expect, it } from 'vitest';
import { splitKVSchedule } from './split-kv-schedule.js';

describe('splitKVSchedule', () => {
  it('covers every page once, the sink in the first split and the buffer in the last', () => {
    expect(splitKVSchedule({ sinkTokens: 4, pages: 10, bufferTokens: 5 }, 4)).toEqual([
      { firstPage: 0, pageCount: 4, sink: true, buffer: false },
      { firstPage: 4, pageCount: 4, sink: false, buffer: false },
      { firstPage: 8, pageCount: 2, sink: false, buffer: true },
    ]);
  });

  it('keeps one split for a sequence without pages', () => {
    expect(splitKVSchedule({ sinkTokens: 3, pages: 0, bufferTokens: 0 }, 16)).toEqual([{ firstPage: 0, pageCount: 0, sink: true, buffer: true }]);
  });

  it('splits every page apart at one page per split', () => {
    const splits = splitKVSchedule({ sinkTokens: 4, pages: 5, bufferTokens: 0 }, 1);
    expect(splits.map((s) => s.firstPage)).toEqual([0, 1, 2, 3, 4]);
    expect(splits.every((s) => s.pageCount === 1)).toBe(true);
  });
});
