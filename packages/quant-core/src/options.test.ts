import { describe, expect, it } from 'vitest';
import { isQattnError } from './errors.js';
import { type OptionTable, resolveOptions } from './options.js';

interface Opts {
  pv?: 'int8' | 'fp16';
  smooth?: boolean;
  block?: number;
  threshold?: number;
}
const table: OptionTable<Opts> = {
  pv: { kind: 'enum', values: ['int8', 'fp16'], default: 'int8' },
  smooth: { kind: 'boolean', default: true },
  block: { kind: 'integer', min: 16, max: 256, multipleOf: 16, default: 64 },
  threshold: { kind: 'number', min: 0, max: 30, default: 12 },
};

describe('resolveOptions', () => {
  it('fills defaults and returns a new object', () => {
    const given = { pv: 'fp16' as const };
    const resolved = resolveOptions(table, given, 'test');
    expect(resolved).toEqual({ pv: 'fp16', smooth: true, block: 64, threshold: 12 });
    expect(given).toEqual({ pv: 'fp16' });
  });
  it.each([
    [{ pv: 'int4' }, 'pv'],
    [{ smooth: 'yes' }, 'smooth'],
    [{ block: 24 }, 'block'],
    [{ block: 512 }, 'block'],
    [{ threshold: Number.NaN }, 'threshold'],
    [{ blok: 64 }, 'blok'],
  ])('rejects %j naming the option', (given, name) => {
    try {
      resolveOptions(table, given, 'test');
      expect.unreachable();
    } catch (err) {
      expect(isQattnError(err, 'ERR_QATTN_OPTION')).toBe(true);
      expect((err as Error).message).toContain(name);
    }
  });
});
