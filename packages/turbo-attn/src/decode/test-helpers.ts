// vitest helpers of the decode tests (not part of the package's entry).
import { type QattnErrorCode, isQattnError } from '@qattn/quant-core';
import { expect } from 'vitest';

/** Expects `run()` — a call or a promise — to throw or reject with a QattnError of `code` whose message mentions `mentions`. */
export async function expectCode(run: Promise<unknown> | (() => unknown), code: QattnErrorCode, mentions?: string): Promise<void> {
  let caught: unknown;
  try {
    await (typeof run === 'function' ? run() : run);
  } catch (err) {
    caught = err;
  }
  expect(isQattnError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  if (mentions) expect((caught as Error).message).toContain(mentions);
}
