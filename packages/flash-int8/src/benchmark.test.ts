import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { flashInt8Benchmark } from './index.js';

const shape = { batch: 1, heads: 2, seqQ: 64, seqKV: 96, headDim: 32 };

describe('flashInt8Benchmark', () => {
  it('times the cpu backend with the host clock over every repeat', async () => {
    const result = await flashInt8Benchmark(shape, { backend: 'cpu', causal: true }, { warmup: 1, repeats: 3 });
    expect(result).toMatchObject({ backend: 'cpu', timer: 'host' });
    expect(result.samplesMs).toHaveLength(3);
    expect(result.medianMs).toBeGreaterThan(0);
    expect(result.minMs).toBeLessThanOrEqual(result.medianMs);
  });

  it('rejects bad settings, options and shapes with typed errors', async () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (err) => (isQattnError(err) ? err.code : String(err)));
    expect(await codeOf(flashInt8Benchmark(shape, { backend: 'cpu' }, { warmup: 0, repeats: 0 }))).toBe('ERR_QATTN_OPTION');
    expect(await codeOf(flashInt8Benchmark(shape, { backend: 'tpu' as never }, { warmup: 0, repeats: 1 }))).toBe('ERR_QATTN_OPTION');
    expect(await codeOf(flashInt8Benchmark({ ...shape, seqQ: 0 }, { backend: 'cpu' }, { warmup: 0, repeats: 1 }))).toBe('ERR_QATTN_SHAPE');
  });
});
