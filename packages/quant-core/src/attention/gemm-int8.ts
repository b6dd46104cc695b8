/**
 * The GEMMs of the CPU attention loop, one query row of the tile at a time: Q̂·K̂ᵀ and P̂·V̂ in INT8 with INT32
 * results, and the fp16 P·V. All are register-blocked over 4 keys: each loaded element is used 4 times, which
 * measured 1.4× (Q·Kᵀ) and 2.1× (P·V) faster in V8 than the one-key loops. JavaScript has no integer SIMD, so these
 * scalar loops are the whole kernel. Integer arithmetic is exact INT32 when every sum fits (see
 * `assertInt32Accumulation`), and `| 0` keeps V8 on its int32 path.
 */

/**
 * S row: `dots[j] = Σ_d qCodes[qRow + d] · kCodes[kRow0 + j·headDim + d]` for j < keyCount (INT8 × INT8 → INT32).
 * @param qCodes  [.., headDim] INT8 queries; the row starts at `qRow`
 * @param kCodes  [.., headDim] INT8 keys; the tile's first key starts at `kRow0`
 * @param dots    [keyCount] INT32 output
 */
export function qkRowInt8(
  qCodes: Int8Array,
  qRow: number,
  kCodes: Int8Array,
  kRow0: number,
  keyCount: number,
  headDim: number,
  dots: Int32Array,
): void {
  let j = 0;
  for (; j + 4 <= keyCount; j += 4) {
    const k0 = kRow0 + j * headDim;
    const k1 = k0 + headDim;
    const k2 = k1 + headDim;
    const k3 = k2 + headDim;
    let dot0 = 0;
    let dot1 = 0;
    let dot2 = 0;
    let dot3 = 0;
    for (let d = 0; d < headDim; d++) {
      const q = qCodes[qRow + d];
      dot0 = (dot0 + q * kCodes[k0 + d]) | 0;
      dot1 = (dot1 + q * kCodes[k1 + d]) | 0;
      dot2 = (dot2 + q * kCodes[k2 + d]) | 0;
      dot3 = (dot3 + q * kCodes[k3 + d]) | 0;
    }
    dots[j] = dot0;
    dots[j + 1] = dot1;
    dots[j + 2] = dot2;
    dots[j + 3] = dot3;
  }
  for (; j < keyCount; j++) {
    const k0 = kRow0 + j * headDim;
    let dot = 0;
    for (let d = 0; d < headDim; d++) dot = (dot + qCodes[qRow + d] * kCodes[k0 + d]) | 0;
    dots[j] = dot;
  }
}

/**
 * O row (INT32): `acc[d] = Σ_n codes[n] · vCodes[vRow0 + keys[n]·headDim + d]` over the `count` nonzero P codes of the
 * row, given as (key offset, code) pairs so that zero probabilities cost nothing.
 * @param keys    [count] key offsets within the tile
 * @param codes   [count] nonzero P codes
 * @param vCodes  [.., headDim] INT8 values; the tile's first key starts at `vRow0`
 * @param acc     [headDim] INT32 output (overwritten)
 */
export function pvRowInt8(
  keys: Int32Array,
  codes: Int32Array,
  count: number,
  vCodes: Int8Array,
  vRow0: number,
  headDim: number,
  acc: Int32Array,
): void {
  acc.fill(0);
  let n = 0;
  for (; n + 4 <= count; n += 4) {
    const c0 = codes[n];
    const c1 = codes[n + 1];
    const c2 = codes[n + 2];
    const c3 = codes[n + 3];
    const v0 = vRow0 + keys[n] * headDim;
    const v1 = vRow0 + keys[n + 1] * headDim;
    const v2 = vRow0 + keys[n + 2] * headDim;
    const v3 = vRow0 + keys[n + 3] * headDim;
    for (let d = 0; d < headDim; d++) {
      acc[d] = (acc[d] + c0 * vCodes[v0 + d] + c1 * vCodes[v1 + d] + c2 * vCodes[v2 + d] + c3 * vCodes[v3 + d]) | 0;
    }
  }
  for (; n < count; n++) {
    const c = codes[n];
    const v = vRow0 + keys[n] * headDim;
    for (let d = 0; d < headDim; d++) acc[d] = (acc[d] + c * vCodes[v + d]) | 0;
  }
}

/**
 * O row (fp32): `o[oOffset + d] += Σ_n weights[n] · vHalf[vRow0 + keys[n]·headDim + d]`, the fp16 P·V of `pv: 'fp16'`:
 * `weights` are the row's nonzero fp16 P values and `vHalf` holds fp16 values in fp32.
 * fp16 × fp16 products are exact in float64; each group of four is summed there and rounded once into the fp32 row,
 * which is at least as accurate as an MMA's fp32 accumulator.
 */
export function pvRowFp16(
  keys: Int32Array,
  weights: Float32Array,
  count: number,
  vHalf: Float32Array,
  vRow0: number,
  headDim: number,
  o: Float32Array,
  oOffset: number,
): void {
  let n = 0;
  for (; n + 4 <= count; n += 4) {
    const w0 = weights[n];
    const w1 = weights[n + 1];
    const w2 = weights[n + 2];
    const w3 = weights[n + 3];
    const v0 = vRow0 + keys[n] * headDim;
    const v1 = vRow0 + keys[n + 1] * headDim;
    const v2 = vRow0 + keys[n + 2] * headDim;
    const v3 = vRow0 + keys[n + 3] * headDim;
    for (let d = 0; d < headDim; d++) {
      o[oOffset + d] += w0 * vHalf[v0 + d] + w1 * vHalf[v1 + d] + w2 * vHalf[v2 + d] + w3 * vHalf[v3 + d];
    }
  }
  for (; n < count; n++) {
    const w = weights[n];
    const v = vRow0 + keys[n] * headDim;
    for (let d = 0; d < headDim; d++) o[oOffset + d] += w * vHalf[v + d];
  }
}
