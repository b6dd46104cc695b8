import { createRng } from '@qattn/quant-core';

/** Seed of the rotation's signs: fixed, so a cache's layout is reproducible and a kernel can rebuild the signs. */
export const HADAMARD_SIGN_SEED = 0x5eed_4ad4;

/**
 * The ±1 signs s of the cache's rotation y = H·(s ∘ x)/√n, `[n]` (n a power of two; H the Sylvester–Hadamard matrix,
 * H·H = n·I). Random signs keep a structured vector (a constant offset, a one-hot outlier) from landing on a single
 * row of H, which would concentrate it in one channel instead of spreading it.
 */
export function hadamardSigns(n: number): Float32Array {
  const random = createRng(HADAMARD_SIGN_SEED);
  return Float32Array.from({ length: n }, () => (random() < 0.5 ? -1 : 1));
}

/** In-place fast Walsh–Hadamard transform of `row[0, n)` (unnormalized: row ← H·row), n a power of two. */
function walshHadamard(row: Float64Array, n: number): void {
  for (let half = 1; half < n; half <<= 1) {
    for (let start = 0; start < n; start += half << 1) {
      for (let i = start; i < start + half; i++) {
        const a = row[i];
        const b = row[i + half];
        row[i] = a + b;
        row[i + half] = a - b;
      }
    }
  }
}

/**
 * Rotates one row in place: row ← H·(s ∘ row)/√n (orthonormal, so dot products are unchanged: q·k = (Rq)·(Rk)).
 * The cache applies it to every K and V row it stores; decode applies it to q.
 */
export function hadamardRotate(row: Float64Array, signs: Float32Array): void {
  const n = signs.length;
  for (let i = 0; i < n; i++) row[i] *= signs[i];
  walshHadamard(row, n);
  const norm = 1 / Math.sqrt(n);
  for (let i = 0; i < n; i++) row[i] *= norm;
}

/** Undoes {@link hadamardRotate} in place: row ← s ∘ (H·row)/√n. Decode applies it to the attention output. */
export function hadamardUnrotate(row: Float64Array, signs: Float32Array): void {
  const n = signs.length;
  walshHadamard(row, n);
  const norm = 1 / Math.sqrt(n);
  for (let i = 0; i < n; i++) row[i] *= signs[i] * norm;
}
