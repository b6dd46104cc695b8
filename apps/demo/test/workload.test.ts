import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { PRESETS, attentionOps, parseWorkload, teraOpsPerSecond } from '../src/workload.js';

function optionError(search: string): string | undefined {
  try {
    parseWorkload(search);
  } catch (err) {
    if (isQattnError(err, 'ERR_QATTN_OPTION')) return String(err.details.option);
    throw err;
  }
  return undefined;
}

describe('parseWorkload', () => {
  it('defaults to the transformer preset, causal', () => {
    const workload = parseWorkload('');
    expect(workload.preset).toBe('transformer');
    expect(workload.shape).toEqual({ batch: 1, heads: 8, kvHeads: 2, seqQ: 1024, seqKV: 1024, headDim: 64 });
    expect(workload.causal).toBe(true);
    expect(workload.decodeSteps).toBe(PRESETS.transformer.decodeSteps);
  });

  it('applies overrides on top of a preset', () => {
    const workload = parseWorkload('?size=ci&seq=512&heads=8&kvHeads=8&headDim=128&steps=3&repeats=2&causal=0');
    expect(workload.shape).toEqual({ batch: 1, heads: 8, kvHeads: 8, seqQ: 512, seqKV: 512, headDim: 128 });
    expect(workload).toMatchObject({ preset: 'ci', causal: false, decodeSteps: 3, repeats: 2 });
  });

  it('rejects bad values with ERR_QATTN_OPTION naming the parameter', () => {
    expect(optionError('?size=huge')).toBe('size');
    expect(optionError('?size=toString')).toBe('size');
    expect(optionError('?seq=abc')).toBe('seq');
    expect(optionError('?seq=8')).toBe('seq');
    expect(optionError('?heads=1.5')).toBe('heads');
    expect(optionError('?steps=0')).toBe('steps');
    expect(optionError('?causal=yes')).toBe('causal');
  });
});

describe('attentionOps and teraOpsPerSecond', () => {
  it('count 4·B·H·Sq·Skv·D, halved for square causal', () => {
    const shape = { batch: 2, heads: 4, kvHeads: 2, seqQ: 8, seqKV: 8, headDim: 16 };
    expect(attentionOps(shape, false)).toBe(4 * 2 * 4 * 8 * 8 * 16);
    expect(attentionOps(shape, true)).toBe(2 * 2 * 4 * 8 * 8 * 16);
    expect(attentionOps({ ...shape, seqQ: 1 }, true)).toBe(4 * 2 * 4 * 1 * 8 * 16);
    expect(teraOpsPerSecond(2e12, 1000)).toBe(2);
  });
});
