import { isQattnError } from '@qattn/quant-core';
import { generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { turboAttention, turboAttentionWithStats, turboBackends } from './index.js';

const shape = { batch: 1, heads: 2, seqQ: 16, seqKV: 16, headDim: 16 };

describe('turbo-attn backends', () => {
  it('reports cuda and webgpu as unavailable with a reason, and cpu as available, by priority', async () => {
    const status = await turboBackends();
    expect(status.map((s) => [s.name, s.available])).toEqual([
      ['cuda', false],
      ['webgpu', false],
      ['cpu', true],
    ]);
    for (const s of status.filter((entry) => !entry.available)) expect(s.reason).toMatch(/not implemented yet/);
  });

  it.each(['cuda', 'webgpu'] as const)('rejects backend %s with ERR_QATTN_BACKEND_UNAVAILABLE and the reason', async (backend) => {
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
    const err = await turboAttention(q, k, v, shape, { backend }).catch((e: unknown) => e);
    expect(isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE'), String(err)).toBe(true);
    expect((err as Error).message).toContain(`${backend} backend is not available`);
  });

  it("'auto' falls back to the cpu backend and gives the same result as 'cpu'", async () => {
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 2 });
    expect(await turboAttention(q, k, v, shape, { backend: 'auto' })).toEqual(await turboAttention(q, k, v, shape, { backend: 'cpu' }));
  });

  it('turboAttentionWithStats returns the same output and refuses GPU backends', async () => {
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 3 });
    const { out, stats } = await turboAttentionWithStats(q, k, v, shape, { causal: true, blockM: 8, blockN: 8 });
    expect(out).toEqual(await turboAttention(q, k, v, shape, { causal: true, blockM: 8, blockN: 8 }));
    // 2 heads × 2 query tiles × 2 key tiles; the first query tile never sees the second key tile.
    expect(stats).toEqual({ tiles: 8, skippedCausal: 2, skippedSparse: 0 });
    const err = await turboAttentionWithStats(q, k, v, shape, { backend: 'webgpu' }).catch((e: unknown) => e);
    expect(isQattnError(err, 'ERR_QATTN_OPTION')).toBe(true);
  });

  it('rejects a headDim whose INT8 dot products would overflow INT32 with ERR_QATTN_UNSUPPORTED', async () => {
    const headDim = 133_153; // 127² · 133 153 > 2^31 − 1
    const x = new Float32Array(headDim).fill(1);
    const err = await turboAttention(x, x, x, { batch: 1, heads: 1, seqQ: 1, seqKV: 1, headDim }).catch((e: unknown) => e);
    expect(isQattnError(err, 'ERR_QATTN_UNSUPPORTED'), String(err)).toBe(true);
    expect((err as Error).message).toContain('headDim');
  });

  it('rejects logits that would overflow float32 with ERR_QATTN_UNSUPPORTED', async () => {
    const q = new Float32Array(2 * 16 * 16).fill(1e20);
    const k = new Float32Array(2 * 16 * 16).fill(1e20);
    const err = await turboAttention(q, k, new Float32Array(2 * 16 * 16), shape).catch((e: unknown) => e);
    expect(isQattnError(err, 'ERR_QATTN_UNSUPPORTED'), String(err)).toBe(true);
  });
});
