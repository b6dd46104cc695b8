// Shared by this package's tests only (not exported from the package).
import { expect } from 'vitest';
import { isQattnError, type QattnErrorCode } from './errors.js';

/** Asserts that `fn` throws a QattnError of `code`. */
export function expectCode(fn: () => unknown, code: QattnErrorCode): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isQattnError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
}
