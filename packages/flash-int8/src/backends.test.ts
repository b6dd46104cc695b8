import { isQattnError } from '@qattn/quant-core';
import { attention, compare, generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { flashInt8Attention, flashInt8Backends } from './index.js';

describe('backend selection', () => {
  const shape = { batch: 1, heads: 2, seqQ: 16, seqKV: 24, headDim: 32 };
  const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 2 });

  it('lists every backend by priority; cpu is always available', async () => {
    const status = await flashInt8Backends();
    expect(status.map((s) => s.name)).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(status.find((s) => s.name === 'cpu')?.available).toBe(true);
    for (const s of status) if (!s.available) expect(s.reason, s.name).toMatch(/\S/);
  });

  it('a requested backend that cannot load rejects with ERR_QATTN_BACKEND_UNAVAILABLE and its reason', async () => {
    for (const s of await flashInt8Backends()) {
      if (s.available) continue;
      let caught: unknown;
      try {
        await flashInt8Attention(q, k, v, shape, { backend: s.name });
      } catch (err) {
        caught = err;
      }
      expect(isQattnError(caught, 'ERR_QATTN_BACKEND_UNAVAILABLE'), `${s.name}: ${String(caught)}`).toBe(true);
      expect((caught as Error).message).toContain(s.name);
    }
  });

  it("'auto' runs on an available backend and meets the int8 bar", async () => {
    const out = await flashInt8Attention(q, k, v, shape);
    expect(compare(out, attention(q, k, v, shape)).relL2).toBeLessThan(0.02);
  });

  it('validates options before choosing a backend', async () => {
    let caught: unknown;
    try {
      await flashInt8Attention(q, k, v, shape, { backend: 'cuda', blockN: 0 });
    } catch (err) {
      caught = err;
    }
    expect(isQattnError(caught, 'ERR_QATTN_OPTION')).toBe(true);
  });
});
