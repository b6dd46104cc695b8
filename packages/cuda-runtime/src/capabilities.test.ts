import { isQattnError, resolveShape } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { type AttentionProblem, attentionPlanKey } from './attention-plan.js';
import { CUDA_ATTENTION_ENTRIES, attentionCapabilities } from './capabilities.js';

describe('capabilities.json', () => {
  it('lists both kernel packages, with key blocks of 32 and 64 keys', () => {
    expect(CUDA_ATTENTION_ENTRIES).toEqual(expect.arrayContaining(['flash-int8', 'turbo-attn']));
    expect(attentionCapabilities('turbo-attn').keyBlocks).toEqual([32, 64]);
  });

  it('every kernel package has head dims 64 and 128, each a multiple of 32 (k32 MMA steps) up to 256', () => {
    for (const entry of CUDA_ATTENTION_ENTRIES) {
      const { headDims } = attentionCapabilities(entry);
      expect(headDims).toEqual(expect.arrayContaining([64, 128]));
      for (const d of headDims) expect(d % 32 === 0 && d <= 256).toBe(true);
    }
  });

  it('an unknown entry throws ERR_QATTN_OPTION naming the entries', () => {
    expect(() => attentionCapabilities('nope')).toThrowError(expect.objectContaining({ code: 'ERR_QATTN_OPTION' }));
    try {
      attentionCapabilities('nope');
    } catch (err) {
      expect(isQattnError(err, 'ERR_QATTN_OPTION') && /flash-int8/.test((err as Error).message)).toBe(true);
    }
  });
});

describe('attentionPlanKey', () => {
  const base: AttentionProblem = {
    shape: resolveShape({ batch: 1, heads: 4, kvHeads: 2, seqQ: 100, seqKV: 200, headDim: 64 }),
    scale: 0.125,
    causal: true,
    flags: {
      variant: { exponent: 'sas', sasThreshold: 14, skipSparseTiles: true, pScale: 'rowmax', pCodeMax: 127, pv: 'int8' },
      keyBlock: 64,
      qRowsPerScale: 64,
      kRowsPerScale: 64,
      vScalePerBlock: false,
      smoothK: true,
      smoothV: true,
    },
  };

  it('separates every field the packed argument block depends on', () => {
    const variants: AttentionProblem[] = [
      { ...base, causal: false },
      { ...base, scale: 0.1 },
      { ...base, shape: resolveShape({ batch: 1, heads: 4, kvHeads: 4, seqQ: 100, seqKV: 200, headDim: 64 }) },
      { ...base, flags: { ...base.flags, variant: { ...base.flags.variant, sasThreshold: 8 } } },
      { ...base, flags: { ...base.flags, variant: { ...base.flags.variant, skipSparseTiles: false } } },
      { ...base, flags: { ...base.flags, variant: { ...base.flags.variant, exponent: 'exp2' } } },
      { ...base, flags: { ...base.flags, variant: { ...base.flags.variant, pScale: 'global' } } },
      { ...base, flags: { ...base.flags, keyBlock: 32, kRowsPerScale: 32 } },
      { ...base, flags: { ...base.flags, qRowsPerScale: 1 } },
      { ...base, flags: { ...base.flags, vScalePerBlock: true } },
      { ...base, flags: { ...base.flags, smoothV: false } },
    ];
    const keys = new Set([base, ...variants].map(attentionPlanKey));
    expect(keys.size).toBe(variants.length + 1);
    expect(attentionPlanKey({ ...base })).toBe(attentionPlanKey(base));
  });
});
