/**
 * The two INT8 tile GEMMs of the FlashQ CPU kernel, INT8 × INT8 with exact INT32 results. JavaScript has no integer
 * SIMD, so these are register-blocked scalar loops: four query rows share each K load in Q·Kᵀ, and four keys share
 * each accumulator load/store in P·V (about 1.5–2× faster in V8 than the naive loops). Products and sums are exact in
 * float64 and stored in Int32Arrays (|sum| ≤ 127² · max(headDim, blockN) < 2^31).
 */

/**
 * dots[r·dotsStride + c] = Σ_d q[qOffset + r·headDim + d] · k[kOffset + c·headDim + d]
 * for r < rows, c < cols.                                                                  Q̂ (rows, D) · K̂ᵀ (D, cols)
 */
export function qkTileInt8(
  q: Int8Array,
  qOffset: number,
  k: Int8Array,
  kOffset: number,
  rows: number,
  cols: number,
  headDim: number,
  dots: Int32Array,
  dotsStride: number,
): void {
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const q0 = qOffset + r * headDim;
    const q1 = q0 + headDim;
    const q2 = q1 + headDim;
    const q3 = q2 + headDim;
    const out0 = r * dotsStride;
    for (let c = 0; c < cols; c++) {
      const kRow = kOffset + c * headDim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let d = 0; d < headDim; d++) {
        const kv = k[kRow + d];
        s0 += q[q0 + d] * kv;
        s1 += q[q1 + d] * kv;
        s2 += q[q2 + d] * kv;
        s3 += q[q3 + d] * kv;
      }
      dots[out0 + c] = s0;
      dots[out0 + dotsStride + c] = s1;
      dots[out0 + 2 * dotsStride + c] = s2;
      dots[out0 + 3 * dotsStride + c] = s3;
    }
  }
  for (; r < rows; r++) {
    const qRow = qOffset + r * headDim;
    for (let c = 0; c < cols; c++) {
      const kRow = kOffset + c * headDim;
      let s = 0;
      for (let d = 0; d < headDim; d++) s += q[qRow + d] * k[kRow + d];
      dots[r * dotsStride + c] = s;
    }
  }
}

/**
 * acc[r·headDim + d] = Σ_c p[r·pStride + c] · v[vOffset + c·headDim + d]
 * for r < rows, d < headDim (acc is overwritten).                                         P̂ (rows, cols) · V̂ (cols, D)
 * Groups of four keys whose codes are all 0 in a row are skipped (exact; common after a sharp softmax or SAS).
 */
export function pvTileInt8(
  p: Int8Array,
  pStride: number,
  v: Int8Array,
  vOffset: number,
  rows: number,
  cols: number,
  headDim: number,
  acc: Int32Array,
): void {
  acc.fill(0, 0, rows * headDim);
  for (let r = 0; r < rows; r++) {
    const pRow = r * pStride;
    const accRow = r * headDim;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const p0 = p[pRow + c];
      const p1 = p[pRow + c + 1];
      const p2 = p[pRow + c + 2];
      const p3 = p[pRow + c + 3];
      if ((p0 | p1 | p2 | p3) === 0) continue;
      const v0 = vOffset + c * headDim;
      const v1 = v0 + headDim;
      const v2 = v1 + headDim;
      const v3 = v2 + headDim;
      for (let d = 0; d < headDim; d++) {
        acc[accRow + d] += p0 * v[v0 + d] + p1 * v[v1 + d] + p2 * v[v2 + d] + p3 * v[v3 + d];
      }
    }
    for (; c < cols; c++) {
      const pc = p[pRow + c];
      if (pc === 0) continue;
      const vRow = vOffset + c * headDim;
      for (let d = 0; d < headDim; d++) acc[accRow + d] += pc * v[vRow + d];
    }
  }
}
