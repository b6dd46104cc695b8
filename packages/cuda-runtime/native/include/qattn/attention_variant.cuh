// Attention variants: what distinguishes INT-FlashAttention from FlashQ + SAS inside the attention kernel, as a type
// the kernel template consumes (the pattern of FlashInfer's variant_helper.cuh). The kernel body calls only these
// hooks and flags; it never asks which paper it runs. Differences that cost nothing at run time stay runtime fields
// of AttentionArgs (P code range, P scale, V smoothing, Q/K/V scale granularity as written by the quantization
// kernels); what changes the instruction stream is here:
//   Exponent          exact exp2 (one MUFU.EX2 per score) or SAS (sas_exp2.cuh, FMA/ALU pipes only), with the
//                     sparsity test `may_be_nonzero` the all-zero tile skip uses
//   kKScaleLayout     K scales per key (dequantized per column: two FFMA per score) or per key block of kKeyBlock keys
//                     (the scale folds into the row factor: one FFMA per score)
//   kSkipSparseTiles  skip P and P·V of a key tile whose scores all lie more than T below the running max of every
//                     row of a warp (a warp-uniform vote); exact, since SAS makes such a tile's P exactly 0
#pragma once

#include <cuda_runtime.h>

#include "qattn/attention_args.h"
#include "qattn/mma_sm80.cuh"
#include "qattn/sas_exp2.cuh"

namespace qattn {

enum class KScaleLayout { kPerKey, kPerKeyBlock };

// exp2 by the exponent unit (ex2.approx.ftz: 2 ulp), no sparsity.
struct Exp2Exponent {
  static constexpr AttentionExponent kKind = kExponentExp2;
  static constexpr bool kSparse = false;
  __device__ __forceinline__ explicit Exp2Exponent(const AttentionArgs&) {}
  __device__ __forceinline__ float operator()(float x) const { return fast_exp2(x); }
  __device__ __forceinline__ float2 pair(float x0, float x1) const { return make_float2(fast_exp2(x0), fast_exp2(x1)); }
  __device__ __forceinline__ bool may_be_nonzero(float) const { return true; }
};

// TurboAttention's SAS: exactly 0 below the threshold T (args.sas_threshold).
struct SasExponent {
  static constexpr AttentionExponent kKind = kExponentSas;
  static constexpr bool kSparse = true;
  float threshold;
  __device__ __forceinline__ explicit SasExponent(const AttentionArgs& args) : threshold(args.sas_threshold) {}
  __device__ __forceinline__ float operator()(float x) const { return sas_exp2(x, threshold); }
  __device__ __forceinline__ float2 pair(float x0, float x1) const { return sas_exp2_pair(x0, x1, threshold); }
  // False exactly when operator()(x) is 0 by sparsity (x < −T; also −∞ and NaN).
  __device__ __forceinline__ bool may_be_nonzero(float x) const { return x >= -threshold; }
};

// SAS's sparsity with 2^x from the exponent unit: exactly 0 below −T as SasExponent, ex2.approx (2 ulp) above it
// instead of the fp16 cubic (relative error 1.3e−3). Costs one MUFU.EX2 plus a compare and a select per score where
// the polynomial costs ≈ 10.5 FMA/ALU issue slots: on the issue-bound sm80 kernel that is the faster SAS.
struct SasUnitExponent {
  static constexpr AttentionExponent kKind = kExponentSasUnit;
  static constexpr bool kSparse = true;
  float threshold;
  __device__ __forceinline__ explicit SasUnitExponent(const AttentionArgs& args) : threshold(args.sas_threshold) {}
  // −x ≤ T is false for NaN and −x = +∞, which give exactly 0 as in SasExponent.
  __device__ __forceinline__ float operator()(float x) const { return -x <= threshold ? fast_exp2(x) : 0.f; }
  __device__ __forceinline__ float2 pair(float x0, float x1) const { return make_float2((*this)(x0), (*this)(x1)); }
  __device__ __forceinline__ bool may_be_nonzero(float x) const { return x >= -threshold; }
};

template <typename ExponentT, KScaleLayout kKScaleLayoutValue, bool kSkipSparseTilesValue>
struct AttentionVariant {
  using Exponent = ExponentT;
  static constexpr KScaleLayout kKScaleLayout = kKScaleLayoutValue;
  static constexpr bool kSkipSparseTiles = kSkipSparseTilesValue;
  static_assert(!kSkipSparseTiles || Exponent::kSparse, "only a sparse exponent makes a skipped tile's P exactly 0");

  // Host check of the runtime fields this variant relies on; nullptr when they fit.
  static const char* check(const AttentionArgs& args) {
    if (args.exponent != Exponent::kKind) return "the argument block's exponent does not match the compiled variant";
    if (kKScaleLayout == KScaleLayout::kPerKeyBlock && args.k_rows_per_scale != args.key_block) {
      return "a per-key-block K scale variant needs k_rows_per_scale == key_block";
    }
    return nullptr;
  }
};

// INT-FlashAttention (flash-int8): exact exp2, K scales per key (per token, or a block's scale repeated per key).
using IntFlashVariant = AttentionVariant<Exp2Exponent, KScaleLayout::kPerKey, false>;
// FlashQ + SAS (turbo-attn): K scales per key block, SAS with the all-zero tile skip.
using FlashQSasVariant = AttentionVariant<SasExponent, KScaleLayout::kPerKeyBlock, true>;
// FlashQ + SAS with 2^x from the exponent unit (the sm80 kernel's SAS, see SasUnitExponent).
using FlashQSasUnitVariant = AttentionVariant<SasUnitExponent, KScaleLayout::kPerKeyBlock, true>;
// FlashQ with exact exp2 (turbo-attn `sas: false`).
using FlashQExp2Variant = AttentionVariant<Exp2Exponent, KScaleLayout::kPerKeyBlock, false>;

}  // namespace qattn
