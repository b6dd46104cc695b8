import { isQattnError } from '@qattn/quant-core';
import { compare, generateInputs } from '@qattn/reference';
import { acquireGpu } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { turboAttention, turboAttentionWithStats, turboBackends } from './index.js';

const shape = { batch: 1, heads: 2, seqQ: 16, seqKV: 16, headDim: 16 };

describe('turbo-attn backends', () => {
  it('reports every backend by priority with a reason for each unavailable one: webgpu where an adapter is, cpu always', async () => {
    const status = await turboBackends();
    const adapter = await acquireGpu().then(
      () => true,
      () => false,
    );
    expect(status.map((s) => s.name)).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(status.find((s) => s.name === 'webgpu')?.available).toBe(adapter);
    expect(status.find((s) => s.name === 'cpu')?.available).toBe(true);
    for (const s of status.filter((entry) => !entry.available)) expect(s.reason).toMatch(/\S/);
  });

  it('rejects a backend that cannot load with ERR_QATTN_BACKEND_UNAVAILABLE and the reason', async () => {
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
    for (const s of (await turboBackends()).filter((entry) => !entry.available)) {
      const err = await turboAttention(q, k, v, shape, { backend: s.name }).catch((e: unknown) => e);
      expect(isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE'), String(err)).toBe(true);
      expect((err as Error).message).toContain(s.name);
    }
  });

  it("'auto' runs on the first backend that loads and agrees with the 'cpu' oracle", async () => {
    const autoShape = { ...shape, headDim: 32 }; // the smallest head dim every backend supports
    const { q, k, v } = generateInputs(autoShape, { kind: 'llm', seed: 2 });
    const oracle = await turboAttention(q, k, v, autoShape, { backend: 'cpu' });
    // The GPU backends agree with the oracle within 5e-4 relative L2 (their tests state why); the cpu backend is it.
    expect(compare(await turboAttention(q, k, v, autoShape, { backend: 'auto' }), oracle).relL2).toBeLessThanOrEqual(5e-4);
  });

  it('turboAttentionWithStats returns the same output and refuses GPU backends', async () => {
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 3 });
    const { out, stats } = await turboAttentionWithStats(q, k, v, shape, { causal: true, blockM: 8, blockN: 8 });
    expect(out).toEqual(await turboAttention(q, k, v, shape, { causal: true, blockM: 8, blockN: 8, backend: 'cpu' }));
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

  it('rejects logits beyond MAX_BASE2_LOGIT with ERR_QATTN_UNSUPPORTED', async () => {
    const q = new Float32Array(2 * 16 * 16).fill(1e20);
    const k = new Float32Array(2 * 16 * 16).fill(1e20);
    const err = await turboAttention(q, k, new Float32Array(2 * 16 * 16), shape).catch((e: unknown) => e);
    expect(isQattnError(err, 'ERR_QATTN_UNSUPPORTED'), String(err)).toBe(true);
  });
});
