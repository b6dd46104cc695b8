import { isQattnError } from '@qattn/quant-core';

/** One line for the page: a QattnError's code and message, or any other error's name and message. */
export function describeError(err: unknown): string {
  if (isQattnError(err)) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
