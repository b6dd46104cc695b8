// The online softmax of one key tile, as every INT8 attention kernel computes it for the two query rows a thread holds:
// rows g and g + 8 of a 16-row slice, columns 8t + 2q and 8t + 2q + 1 of each n8 tile t (g = lane / 4, q = lane % 4).
// That is the accumulator layout of mma.sync m16n8 (attn_fwd_sm80.cuh) and, per warp, of a wgmma m64nN accumulator
// (attn_fwd_sm90.cuh), so both kernels run this code unchanged; they differ only in how S is produced and P consumed,
// and in the scope of the sparse-tile vote (a warp on sm80, a warpgroup on sm90, which must stay on one path).
//
// Per tile, in the kernel's order:
//   scores_to_y       S (INT32, biased by kMagicBits) → y: per-key K scales applied (y = S·s_k), or, with per-block K
//                     scales, the biased INT32 read as a float (integer order kept, mapped to x by one FFMA later)
//   mask_y            −∞ for keys ≥ seq_kv and, causal, right of a row's diagonal (bottom-right aligned)
//   reduce            row max of y per key block (quad-reduced), and the map y → base-2 logit per (row, key block):
//                     logit = fmaf(y, x_scale, x_offset)
//   keeps_tile        the SAS sparsity test of this thread's rows (the caller votes)
//   exponentiate      m, l and alpha updated, y replaced by P = exp(x − m)
//   p_code_scales     per (row, key block): P → code factor and the fp32 value of one code unit
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "qattn/attention_args.h"
#include "qattn/attention_variant.cuh"
#include "qattn/mma_sm80.cuh"

namespace qattn {

template <typename Variant, int kSTiles, int kKeyBlock, int kRescaleThreshold = 0>
struct TileSoftmax {
  using Exponent = typename Variant::Exponent;
  static constexpr int kKeyBlocks = 8 * kSTiles / kKeyBlock;
  // K scale per key block: the scale folds into a per-(row, key block) factor and scores stay magic-biased INT32.
  static constexpr bool kFoldKScale = Variant::kKScaleLayout == KScaleLayout::kPerKeyBlock;

  float block_y_max[2][kKeyBlocks];  // row max of y over each key block (quad-reduced)
  float x_scale[2][kKeyBlocks];      // y -> base-2 logit: fmaf(y, x_scale, x_offset)
  float x_offset[2][kKeyBlocks];
  float tile_logit_max[2];

  // y from the biased INT32 scores `s` (element 4t + e of n8 tile t). Per-key K scales are applied here (y = S·s_k;
  // the row factor s_q·σ·log2e comes with the max subtraction: x = y·q_scale_x − m). Per-key-block K scales stay out:
  // y is the biased INT32 read as a float, which keeps the integer order (max and masking work on it unchanged) and is
  // mapped to x by one FFMA per (row, key block). k_scale_smem: the tile's [keys, 2] dequantization pairs.
  static __device__ __forceinline__ void scores_to_y(const int32_t* s, const float* k_scale_smem, int quad,
                                                     float (&y)[kSTiles][4]) {
#pragma unroll
    for (int t = 0; t < kSTiles; ++t) {
      if constexpr (!kFoldKScale) {
        const float4 k_pairs = *reinterpret_cast<const float4*>(k_scale_smem + 2 * (8 * t + 2 * quad));
        const float k_descale[2] = {k_pairs.x, k_pairs.z};
        const float k_neg_magic[2] = {k_pairs.y, k_pairs.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) y[t][e] = dequantize_magic(s[4 * t + e], k_descale[e & 1], k_neg_magic[e & 1]);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) y[t][e] = __int_as_float(s[4 * t + e]);
      }
    }
  }

  // −∞ for keys past seq_kv and, causal, keys j > row + diag. n0: the tile's first key; row0: this thread's first row.
  static __device__ __forceinline__ void mask_y(float (&y)[kSTiles][4], const AttentionArgs& args, int n0, int row0,
                                                int quad, int diag) {
#pragma unroll
    for (int t = 0; t < kSTiles; ++t) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = n0 + 8 * t + 2 * quad + (e & 1), row = row0 + 8 * (e >> 1);
        if (key >= args.seq_kv || (args.causal && key > row + diag)) y[t][e] = -INFINITY;
      }
    }
  }

  // Block maxima and the logit map. Both rows side by side, so their quad shuffles and exponent chains are in flight
  // together. x_offset is 0 for per-key K scales (y already carries s_k) and −kMagic·x_scale for per-block ones (it
  // removes the INT32 bias); a per-block layout reads each block's scale from its first key.
  __device__ __forceinline__ void reduce(const float (&y)[kSTiles][4], const float (&q_scale_x)[2],
                                         const float* k_scale_smem) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
#pragma unroll
      for (int b = 0; b < kKeyBlocks; ++b) {
        block_y_max[r][b] = -INFINITY;
#pragma unroll
        for (int t = b * kKeyBlock / 8; t < (b + 1) * kKeyBlock / 8; ++t) {
          block_y_max[r][b] = fmaxf(block_y_max[r][b], fmaxf(y[t][2 * r], y[t][2 * r + 1]));
        }
      }
    }
#pragma unroll
    for (int lane_mask = 1; lane_mask <= 2; lane_mask *= 2) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
#pragma unroll
        for (int b = 0; b < kKeyBlocks; ++b) {
          block_y_max[r][b] = fmaxf(block_y_max[r][b], __shfl_xor_sync(0xffffffffu, block_y_max[r][b], lane_mask));
        }
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if constexpr (!kFoldKScale) {
        float y_max = block_y_max[r][0];
#pragma unroll
        for (int b = 1; b < kKeyBlocks; ++b) y_max = fmaxf(y_max, block_y_max[r][b]);
        tile_logit_max[r] = y_max * q_scale_x[r];
#pragma unroll
        for (int b = 0; b < kKeyBlocks; ++b) {
          x_scale[r][b] = q_scale_x[r];
          x_offset[r][b] = 0.f;
        }
      } else {
        tile_logit_max[r] = -INFINITY;
#pragma unroll
        for (int b = 0; b < kKeyBlocks; ++b) {
          x_scale[r][b] = k_scale_smem[2 * b * kKeyBlock] * q_scale_x[r];
          x_offset[r][b] = -kMagic * x_scale[r][b];
          tile_logit_max[r] = fmaxf(tile_logit_max[r], fmaf(block_y_max[r][b], x_scale[r][b], x_offset[r][b]));
        }
      }
    }
  }

  // Whether one of this thread's rows keeps the tile: it raises the running max, or a score could give a nonzero P
  // against the current max (tested on each key block's max with the same FFMA that computes the P below: monotone
  // in y, so no score of a block passes when its max does not). When no row of the voting scope keeps it, the full
  // path would leave m and l unchanged (alpha = exp(0) = 1), produce P = 0 everywhere and add exactly 0 to O (p_descale
  // 0 below): skipping is exact. With m = −inf, fmaf(·, ·, +inf) is +inf (kept) or NaN for an all-masked block.
  __device__ __forceinline__ bool keeps_tile(const Exponent& exponent, const float (&m_run)[2]) const {
    bool kept = false;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      kept |= tile_logit_max[r] > m_run[r];
#pragma unroll
      for (int b = 0; b < kKeyBlocks; ++b) {
        const float run_bias = kFoldKScale ? x_offset[r][b] - m_run[r] : -m_run[r];
        kept |= exponent.may_be_nonzero(fmaf(block_y_max[r][b], x_scale[r][b], run_bias));
      }
    }
    return kept;
  }

  // The online update: new running max m, alpha = exp(m_old − m_new), y := P = exp(x − m) with x = fmaf(y, x_scale,
  // x_bias), l := l·alpha + Σ P (this thread's columns). x_bias is kept for p_code_scales.
  __device__ __forceinline__ void exponentiate(const Exponent& exponent, float (&y)[kSTiles][4], float (&m_run)[2],
                                               float (&l_run)[2], float (&alpha)[2],
                                               float (&x_bias)[2][kKeyBlocks]) const {
    float m_sub[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float m_new = fmaxf(m_run[r], tile_logit_max[r]);
      // Lazy: keep the stale max unless the tile passes it by more than the threshold (tile_config.h); a row that has
      // seen no key yet (m = −inf) always takes the tile's max.
      if constexpr (kRescaleThreshold > 0) m_new = tile_logit_max[r] > m_run[r] + kRescaleThreshold ? m_new : m_run[r];
      // A row that has seen only masked keys keeps m = −inf; subtracting 0 then keeps exp(−inf) = 0 and no NaN.
      m_sub[r] = m_new == -INFINITY ? 0.f : m_new;
      alpha[r] = exponent(m_run[r] - m_sub[r]);
      m_run[r] = m_new;
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
#pragma unroll
      for (int b = 0; b < kKeyBlocks; ++b) x_bias[r][b] = kFoldKScale ? x_offset[r][b] - m_sub[r] : -m_sub[r];
    }
    float row_sum[2] = {0.f, 0.f};
#pragma unroll
    for (int t = 0; t < kSTiles; ++t) {
      const int b = 8 * t / kKeyBlock;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float2 p = exponent.pair(fmaf(y[t][2 * r], x_scale[r][b], x_bias[r][b]),
                                       fmaf(y[t][2 * r + 1], x_scale[r][b], x_bias[r][b]));
        y[t][2 * r] = p.x;  // y now holds P in [0, 1]
        y[t][2 * r + 1] = p.y;
        row_sum[r] += p.x;
        row_sum[r] += p.y;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) l_run[r] = l_run[r] * alpha[r] + row_sum[r];
  }

  // 'rowmax': the block's largest P of the row maps to code p_code_max, so small probabilities keep resolution. No
  // clamp is needed: every P of the block is computed by the same FFMA and exponent from a y ≤ block_y_max, so
  // P·encode ≤ p_code_max·(1 + a few ulp) for exp2 ('global': P ≤ 1 + a few ulp, likewise); SAS is monotone up to
  // 1.2e−4 relative (2^−n·p(1) < 2^−n−1 at the seams), so its codes stay ≤ p_code_max too (≤ 127.02 before rounding).
  // P ≥ 0, so no code is negative.
  __device__ __forceinline__ void p_code_scales(const Exponent& exponent, const AttentionArgs& args,
                                                const float (&x_bias)[2][kKeyBlocks], float (&p_encode)[2][kKeyBlocks],
                                                float (&p_descale)[2][kKeyBlocks]) const {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
#pragma unroll
      for (int b = 0; b < kKeyBlocks; ++b) {
        const float p_block_max = exponent(fmaf(block_y_max[r][b], x_scale[r][b], x_bias[r][b]));
        const bool rowmax = args.p_rowmax && p_block_max > 0.f;
        // pCodeMax is runtime-uniform: two folded constants read straight from the parameter bank (no register held
        // across the loop, no second instantiation, no branch).
        const float p_range = rowmax ? p_block_max : 1.f;
        p_encode[r][b] = __fdividef(args.p_code_max, p_range);
        p_descale[r][b] = p_range * args.p_code_unit;
        // A sparse exponent zeroes whole blocks of a row: their P·V partial (magic-biased 0, dequantized to the
        // rounding error of kMagic·v_scale) must add exactly 0, as the oracle's and as a skipped tile's.
        if constexpr (Exponent::kSparse) p_descale[r][b] = p_block_max > 0.f ? p_descale[r][b] : 0.f;
      }
    }
  }
};

// The INT8 P codes of a tile as A fragments of 8-bit k32 MMAs — mma.sync m16n8k32 per warp on sm80, wgmma's register
// A per warpgroup on sm90a: per warp the same fragment. Chunk kc covers S tiles 4kc..4kc+3, keys taken in accumulator
// order [t0 c0 c1, t1 c0 c1 | t2 c0 c1, t3 c0 c1] per row (K positions 4q..4q+3, then 16+4q..); V_t's keys were
// permuted to that order when it was quantized (quantize_qkv.cuh: v_key_position), so packing needs no shuffle.
template <int kSTiles, int kKeyBlocks>
__device__ __forceinline__ void pack_p_codes(const float (&y)[kSTiles][4], const float (&p_encode)[2][kKeyBlocks],
                                             uint32_t (&p_frag)[kSTiles / 4][4]) {
  constexpr int kChunks = kSTiles / 4, kChunksPerKeyBlock = kChunks / kKeyBlocks;
#pragma unroll
  for (int kc = 0; kc < kChunks; ++kc) {
    uint32_t code[4][4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) code[j][e] = round_to_low_byte(y[4 * kc + j][e], p_encode[e >> 1][kc / kChunksPerKeyBlock]);
    }
    p_frag[kc][0] = pack_low_bytes(code[0][0], code[0][1], code[1][0], code[1][1]);  // row g,     K 4q..4q+3
    p_frag[kc][1] = pack_low_bytes(code[0][2], code[0][3], code[1][2], code[1][3]);  // row g + 8, K 4q..4q+3
    p_frag[kc][2] = pack_low_bytes(code[2][0], code[2][1], code[3][0], code[3][1]);  // row g,     K 16+4q..
    p_frag[kc][3] = pack_low_bytes(code[2][2], code[2][3], code[3][2], code[3][3]);  // row g + 8, K 16+4q..
  }
}

// P in fp16 as A fragments of 16-bit k16 MMAs (mma.sync m16n8k16 per warp, wgmma's register A per warpgroup): k step
// kc covers S tiles 2kc, 2kc + 1 in key order — the accumulator and A layouts coincide, so V stays in key order.
template <int kSTiles>
__device__ __forceinline__ void pack_p_half(const float (&y)[kSTiles][4], uint32_t (&p_frag)[kSTiles / 2][4]) {
#pragma unroll
  for (int kc = 0; kc < kSTiles / 2; ++kc) {
    p_frag[kc][0] = pack_half2(y[2 * kc][0], y[2 * kc][1]);          // row g,     K 2q, 2q + 1
    p_frag[kc][1] = pack_half2(y[2 * kc][2], y[2 * kc][3]);          // row g + 8
    p_frag[kc][2] = pack_half2(y[2 * kc + 1][0], y[2 * kc + 1][1]);  // row g,     K 8 + 2q, 8 + 2q + 1
    p_frag[kc][3] = pack_half2(y[2 * kc + 1][2], y[2 * kc + 1][3]);  // row g + 8
  }
}

// O·alpha per row, skipped when alpha is 1 for every row of the warp (the running max settled): a row whose alpha is
// 1 is multiplied by 1 when the other is not, which is exact.
template <int kOTiles>
__device__ __forceinline__ void rescale_rows(float (&o_acc)[kOTiles][4], const float (&alpha)[2]) {
  if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) {
#pragma unroll
    for (int t = 0; t < kOTiles; ++t) {
#pragma unroll
      for (int e = 0; e < 4; ++e) o_acc[t][e] *= alpha[e >> 1];
    }
  }
}

// Epilogue: O / l (+ V's channel mean when V was smoothed) into `out_rows` ([seq_q, kHeadDim] of this head); rows
// that saw no key stay exactly 0. l_run holds this thread's columns only: the quad's sum is the row's.
template <int kHeadDim, int kOTiles>
__device__ __forceinline__ void store_rows(const float (&o_acc)[kOTiles][4], const float (&l_run)[2],
                                           const AttentionArgs& args, float* out_rows, int row0, int quad,
                                           int64_t bkv) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = l_run[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int row = row0 + 8 * r;
    if (row >= args.seq_q) continue;
    const float inv_l = l > 0.f ? 1.f / l : 0.f;
    const bool add_mean = args.smooth_v && l > 0.f;
    const float* v_mean = args.v_mean + bkv * kHeadDim;
#pragma unroll
    for (int t = 0; t < kOTiles; ++t) {
      const int col = 8 * t + 2 * quad;
      float2 value = make_float2(o_acc[t][2 * r] * inv_l, o_acc[t][2 * r + 1] * inv_l);
      if (add_mean) {
        value.x += v_mean[col];
        value.y += v_mean[col + 1];
      }
      *reinterpret_cast<float2*>(out_rows + (int64_t)row * kHeadDim + col) = value;
    }
  }
}

}  // namespace qattn
