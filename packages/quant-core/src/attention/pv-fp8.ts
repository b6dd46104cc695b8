import { E4M3_MAX, E4M3_VALUES, roundE4m3 } from '../fp8.js';
import type { Fp8V } from './operands.js';
import type { PvStage, PvStageLayout } from './pv-stage.js';

/**
 * What P = 1 (the running row max) maps to before P is rounded to e4m3: 448, e4m3's largest value, as SageAttention2
 * does (it folds log2 448 into the exponent). P ∈ [0, 1], so 448·P never saturates, and the largest P uses the top
 * binade. A power of two (256) would make 448·P and the final descale exact; both were measured on LLM-like data
 * (README, "FP8 P·V") and agree within 0.01 points — e4m3 spacing is relative, so the factor only moves where P
 * falls into e4m3's subnormals (448·P < 2^−6, P < 3.5e−5).
 */
export const FP8_P_SCALE = E4M3_MAX;

/**
 * FP8 P·V (CPU oracle of the sm90 FP8 variant, SageAttention2's design): P and V as OCP e4m3, fp32 accumulation in
 * V's code units, V's per-channel scale and P's factor applied once per row in the epilogue. The arithmetic, in the
 * order a kernel must reproduce it (fp32(·) = round to nearest-even fp32, e4m3(·) = `encodeE4m3`, also
 * nearest-even, saturating):
 *
 *   pre-pass   s_v[d]  = fp32(max_t |v[t, d]| / 448), per (batch, kvHead, channel) over all keys
 *              v8[t,d] = e4m3(fp32(v[t, d] / s_v[d]))                            (quantizeVFp8Channels)
 *   per tile   (the loop has already set O ← fp32(α · O) and l ← α·l + Σ_j P_j from the unrounded fp32 P)
 *              p8_j    = e4m3(fp32(P_j · 448))          P_j = fp32 exp2(x_j − m') ∈ [0, 1]
 *              O[d]    = fp32(O[d] + p8_j · v8[j, d])   keys j ascending within the tile, tiles ascending;
 *                                                       p8·v8 is exact in fp32 (≤ 8 significant bits, ≥ 2^−18)
 *   epilogue   out[d]  = fp32(fp32(O[d] · (1/l)) · fp32(s_v[d] / 448))   (+ mean(V)[d], one fp32 add, when smoothed)
 *
 * (1/l is formed in float64, as in every P·V precision of the loop; a kernel's fp32 reciprocal differs by ≤ 1 ulp.)
 * Zero p8 are skipped, which is exact. Hopper's FP8 wgmma does not round each add to fp32: it sums a k-group's
 * products with fewer mantissa bits (about 22, SageAttention2), so a kernel should sum each tile's wgmma into a fresh
 * fp32 fragment and add that into O (two-level accumulation); this sequential fp32 sum is the accuracy it is measured
 * against, not a bit-exact model of the tensor core.
 */
export function createPvFp8Stage(v: Fp8V, layout: PvStageLayout): PvStage {
  const { tokens, channels: headDim, blockN } = layout;
  const { codes: vCodes, scales: vScales } = v; // [groups, seqKV, headDim] e4m3 codes, [groups, headDim]
  // [groups, headDim]: s_v / 448, the one factor between O / l (in P·448 × V / s_v units) and the output.
  const outputScales = new Float32Array(vScales.length);
  for (let i = 0; i < vScales.length; i++) outputScales[i] = vScales[i] / FP8_P_SCALE;

  return {
    outputScales,
    accumulateRow(p, pOffset, _pMax, keyCount, kvGroup, keyTile, o, oOffset) {
      const tileStart = (kvGroup * tokens + keyTile * blockN) * headDim;
      for (let j = 0; j < keyCount; j++) {
        const p8 = roundE4m3(Math.fround(p[pOffset + j] * FP8_P_SCALE));
        if (p8 === 0) continue;
        const vRow = tileStart + j * headDim;
        // o is a Float32Array: each += rounds the (exact) sum of an fp32 O and an exact product to fp32.
        for (let d = 0; d < headDim; d++) o[oOffset + d] += p8 * E4M3_VALUES[vCodes[vRow + d]];
      }
    },
  };
}
