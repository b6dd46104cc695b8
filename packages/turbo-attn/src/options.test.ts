import { SAS_DEFAULT_THRESHOLD, isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { turboAttention } from './index.js';
import { TURBO_OPTION_TABLE, resolveTurboOptions } from './options.js';

const shape = { batch: 1, heads: 1, seqQ: 4, seqKV: 4, headDim: 8 };
const tensor = () => new Float32Array(32).fill(0.5);

async function rejection(options: unknown): Promise<unknown> {
  try {
    await turboAttention(tensor(), tensor(), tensor(), shape, options as never);
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('turbo-attn options', () => {
  it('fills in the measured defaults', () => {
    expect(resolveTurboOptions(undefined)).toEqual({
      causal: false,
      scale: undefined,
      backend: 'auto',
      sas: true,
      sasThreshold: SAS_DEFAULT_THRESHOLD, // 'auto' without a key count
      blockM: 64,
      blockN: 64,
      smoothK: true,
      smoothV: true,
      pScale: 'rowmax',
      vGranularity: 'blockChannel',
    });
  });

  it('does not modify the caller options', () => {
    const options = Object.freeze({ sas: false, blockN: 32 });
    expect(resolveTurboOptions(options)).toMatchObject({ sas: false, blockN: 32 });
    expect(options).toEqual({ sas: false, blockN: 32 });
  });

  it.each([
    ['unknown option', { sasTreshold: 8 }, 'sasTreshold'],
    ['sas not boolean', { sas: 'yes' }, 'sas'],
    ['negative threshold', { sasThreshold: -1 }, 'sasThreshold'],
    ['threshold past fp16 range', { sasThreshold: 25 }, 'sasThreshold'],
    ['NaN threshold', { sasThreshold: Number.NaN }, 'sasThreshold'],
    ['zero blockM', { blockM: 0 }, 'blockM'],
    ['fractional blockN', { blockN: 16.5 }, 'blockN'],
    ['unknown backend', { backend: 'tpu' }, 'backend'],
    ['unknown pScale', { pScale: 'tensor' }, 'pScale'],
    ['unknown vGranularity', { vGranularity: 'token' }, 'vGranularity'],
    ['smoothV not boolean', { smoothV: 0 }, 'smoothV'],
    ['causal not boolean', { causal: 1 }, 'causal'],
    ['zero scale', { scale: 0 }, 'scale'],
    ['options not an object', 'fast', 'options'],
  ])('rejects %s with ERR_QATTN_OPTION naming it', async (_name, options, mentions) => {
    const err = await rejection(options);
    expect(isQattnError(err, 'ERR_QATTN_OPTION'), String(err)).toBe(true);
    expect((err as Error).message).toContain(mentions);
  });

  it('documents every option in the table', () => {
    expect(Object.keys(TURBO_OPTION_TABLE).sort()).toEqual(
      ['backend', 'blockM', 'blockN', 'causal', 'pScale', 'sas', 'sasThreshold', 'scale', 'smoothK', 'smoothV', 'vGranularity'].sort(),
    );
  });
});
