/**
 * Incoherent processing (FlashAttention-3, QuaRot): rotate every Q and K row by the same orthogonal matrix
 * R = H·diag(s)/√b, a random-sign Walsh–Hadamard transform applied on blocks of b channels. Q·Kᵀ is unchanged
 * (RᵀR = I), but an outlier channel is spread over b channels, so per-token INT8 scales lose less resolution.
 *
 * b is the largest power of two dividing headDim, at most 256 (headDim 96 → blocks of 32; an odd headDim → identity).
 */
export function hadamardBlockSize(headDim: number): number {
  let block = 1;
  while (block < 256 && headDim % (block * 2) === 0) block *= 2;
  return block;
}

/**
 * The fixed random signs s of the rotation, [headDim], ±1. Any signs keep the math exact; fixed ones make the CPU
 * oracle deterministic and let GPU backends reproduce it bit for bit.
 */
export function hadamardSigns(headDim: number): Float32Array {
  const signs = new Float32Array(headDim);
  let state = 0x9e3779b9;
  for (let d = 0; d < headDim; d++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0; // LCG (Numerical Recipes): enough for signs
    signs[d] = state & 0x80000000 ? -1 : 1;
  }
  return signs;
}

/**
 * Returns a rotated copy of `x` `[rows, headDim]`: each row r becomes R·r. Computed in float64 per block with the fast
 * Walsh–Hadamard butterfly (b·log2 b adds), rounded once to float32. `x` is not modified.
 */
export function rotateRows(x: Float32Array, headDim: number): Float32Array {
  const block = hadamardBlockSize(headDim);
  const out = new Float32Array(x.length);
  if (block === 1) {
    out.set(x);
    return out;
  }
  const signs = hadamardSigns(headDim);
  const norm = 1 / Math.sqrt(block);
  const work = new Float64Array(block); // [block]
  for (let start = 0; start < x.length; start += block) {
    const channel0 = start % headDim;
    for (let i = 0; i < block; i++) work[i] = x[start + i] * signs[channel0 + i];
    for (let half = 1; half < block; half *= 2) {
      for (let i = 0; i < block; i += 2 * half) {
        for (let j = i; j < i + half; j++) {
          const a = work[j];
          const b = work[j + half];
          work[j] = a + b;
          work[j + half] = a - b;
        }
      }
    }
    for (let i = 0; i < block; i++) out[start + i] = work[i] * norm;
  }
  return out;
}
