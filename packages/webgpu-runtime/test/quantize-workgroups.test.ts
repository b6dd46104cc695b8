import { describe, expect, it } from 'vitest';
import { QUANTIZE_ROWS_PER_WORKGROUP, quantizeRowsWorkgroups } from '../src/kernels/quantize-rows.js';
import { V_WORDS_PER_WORKGROUP, vScaleChannelsPerWorkgroup } from '../src/kernels/quantize-v.js';

describe('quantization workgroup counts (pure functions of the shape)', () => {
  it('packs 8 rows per workgroup with per-token scales and one block per workgroup otherwise', () => {
    expect(QUANTIZE_ROWS_PER_WORKGROUP).toBe(8);
    expect(quantizeRowsWorkgroups(1024, 1)).toBe(128);
    expect(quantizeRowsWorkgroups(1, 1)).toBe(1);
    expect(quantizeRowsWorkgroups(37, 1)).toBe(5);
    expect(quantizeRowsWorkgroups(1024, 64)).toBe(16);
    expect(quantizeRowsWorkgroups(65, 64)).toBe(2);
  });

  it('splits V scales over 8-channel workgroups unless one scale covers all channels', () => {
    const view = { groups: 32, tokens: 1024, channels: 128 };
    expect(vScaleChannelsPerWorkgroup(view, { pv: 'int8', blockTokens: 1024, perHead: false })).toBe(8);
    expect(vScaleChannelsPerWorkgroup(view, { pv: 'int8', blockTokens: 64, perHead: false })).toBe(8);
    expect(vScaleChannelsPerWorkgroup(view, { pv: 'int8', blockTokens: 1024, perHead: true })).toBe(128);
    expect(vScaleChannelsPerWorkgroup({ ...view, channels: 48 }, { pv: 'int8', blockTokens: 1024, perHead: true })).toBe(48);
    // 16 words (64 int8 keys) per V workgroup: headDim 128, N=1024 → 16 × 32 groups = 512 workgroups.
    expect(V_WORDS_PER_WORKGROUP).toBe(16);
  });
});
