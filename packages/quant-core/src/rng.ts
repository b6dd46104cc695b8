/**
 * A deterministic uniform generator on [0, 1) (mulberry32): the same seed gives the same numbers on every machine, so
 * property tests, benchmarks and accuracy numbers are reproducible from their seed.
 */
export function createRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
