import { describe, expect, it } from 'vitest';
import { lowBitHeads, pageWords, tokenPlacement } from './index.js';

describe('tokenPlacement', () => {
  it('puts the first sinkTokens in the sink, then whole pages, then the buffer', () => {
    expect(tokenPlacement(0, 4, 64)).toEqual({ sinkTokens: 0, pages: 0, bufferTokens: 0 });
    expect(tokenPlacement(3, 4, 64)).toEqual({ sinkTokens: 3, pages: 0, bufferTokens: 0 });
    expect(tokenPlacement(4, 4, 64)).toEqual({ sinkTokens: 4, pages: 0, bufferTokens: 0 });
    expect(tokenPlacement(67, 4, 64)).toEqual({ sinkTokens: 4, pages: 0, bufferTokens: 63 });
    expect(tokenPlacement(68, 4, 64)).toEqual({ sinkTokens: 4, pages: 1, bufferTokens: 0 });
    expect(tokenPlacement(2048, 4, 64)).toEqual({ sinkTokens: 4, pages: 31, bufferTokens: 60 });
    expect(tokenPlacement(100, 0, 16)).toEqual({ sinkTokens: 0, pages: 6, bufferTokens: 4 });
  });
});

describe('page sizes', () => {
  it('counts 32-bit words of packed codes', () => {
    expect(pageWords(4, 64, 128)).toBe(1024);
    expect(pageWords(2, 64, 128)).toBe(512);
    expect(pageWords(8, 64, 128)).toBe(2048);
    expect(pageWords(2, 16, 1)).toBe(1); // a multiple of 16 tokens fills whole words at any headDim
  });

  it('gives ⌊fraction · kvHeads⌋ heads 2 bits, as allocateHeadBits does', () => {
    expect(lowBitHeads(0.5, 8)).toBe(4);
    expect(lowBitHeads(0.75, 8)).toBe(6);
    expect(lowBitHeads(0.29, 100)).toBe(29);
    expect(lowBitHeads(0.3, 4)).toBe(1);
    expect(lowBitHeads(0, 8)).toBe(0);
  });
});
