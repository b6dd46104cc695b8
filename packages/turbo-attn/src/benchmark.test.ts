import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { turboBenchmark } from './index.js';

const shape = { batch: 1, heads: 2, kvHeads: 1, seqQ: 64, seqKV: 96, headDim: 32 };

describe('turboBenchmark', () => {
  it('times the cpu backend with the host clock over every repeat', async () => {
    const result = await turboBenchmark(shape, { causal: true, backend: 'cpu' }, { warmup: 1, repeats: 3 });
    expect(result).toMatchObject({ backend: 'cpu', timer: 'host' });
    expect(result.samplesMs).toHaveLength(3);
    expect(result.minMs).toBeLessThanOrEqual(result.medianMs);
  });

  it('rejects bad settings and options, and unavailable backends, with typed errors', async () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (err) => (isQattnError(err) ? err.code : String(err)));
    expect(await codeOf(turboBenchmark(shape, {}, { warmup: -1, repeats: 1 }))).toBe('ERR_QATTN_OPTION');
    expect(await codeOf(turboBenchmark(shape, { sasThreshold: -2 }, { warmup: 0, repeats: 1 }))).toBe('ERR_QATTN_OPTION');
    expect(await codeOf(turboBenchmark(shape, { backend: 'cuda' }, { warmup: 0, repeats: 1 }))).toBe('ERR_QATTN_BACKEND_UNAVAILABLE');
  });
});
