import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let cached: (() => void) | undefined;

/**
 * A function that runs a full garbage collection, so RSS snapshots around a long run of calls compare live memory
 * rather than garbage not yet collected. Node exposes `gc` only under `--expose-gc`; setting the flag at run time
 * and reading `gc` from a fresh context gives the same function without asking users for node flags.
 */
export function garbageCollector(): () => void {
  if (cached) return cached;
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return (cached = existing);
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return (cached = gc as () => void);
  } catch {
    // Fall through: snapshots are then taken without a collection (RSS is noisier, the limits still apply).
  }
  return (cached = () => undefined);
}
