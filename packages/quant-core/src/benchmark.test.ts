import { describe, expect, it } from 'vitest';
import { benchmarkData, median, resolveBenchmarkSettings, timeOnHost } from './benchmark.js';
import { isQattnError } from './errors.js';

describe('benchmark helpers', () => {
  it('takes the median of odd and even samples without reordering the input', () => {
    const samples = [5, 1, 3];
    expect(median(samples)).toBe(3);
    expect(samples).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
  it('generates deterministic data in [-1, 1)', () => {
    const a = benchmarkData(1000, 3);
    expect(a).toEqual(benchmarkData(1000, 3));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...a)).toBeLessThan(1);
    expect(a).not.toEqual(benchmarkData(1000, 4));
  });
  it('runs warmup + repeats and reports every timed sample', async () => {
    let calls = 0;
    const result = await timeOnHost('cpu', { warmup: 2, repeats: 3 }, () => calls++);
    expect(calls).toBe(5);
    expect(result.samplesMs).toHaveLength(3);
    expect(result.minMs).toBeLessThanOrEqual(result.medianMs);
    expect(result.timer).toBe('host');
  });
  it.each([
    [{ warmup: -1, repeats: 1 }, 'warmup'],
    [{ warmup: 0, repeats: 0 }, 'repeats'],
    [{ warmup: 0, repeats: 2, seed: 0.5 }, 'seed'],
  ])('rejects %j', (settings, field) => {
    try {
      resolveBenchmarkSettings(settings);
      expect.unreachable();
    } catch (err) {
      expect(isQattnError(err, 'ERR_QATTN_OPTION')).toBe(true);
      expect((err as Error).message).toContain(field);
    }
  });
});
