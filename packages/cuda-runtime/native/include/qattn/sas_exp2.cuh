// TurboAttention's SAS exponent (sparsity-based softmax approximation) on the GPU, for two scores at a time.
//
// Bit-faithful to @qattn/quant-core's sasExp2 (src/sas.ts) for every result ≥ 2^−14, i.e. for every result when the
// threshold T ≤ 14 (the default): x = −(n + f), n = ⌊−x⌋, f rounded to fp16; p(f) = c0 + f·(c1 + f·(c2 + f·c3)) by
// Horner with every multiply and add rounded to fp16 separately (__hmul2_rn/__hadd2_rn: no contraction into HFMA2);
// then 2^−n by subtracting n from the fp32 exponent field of p, exact. Results below 2^−14 (x < −14, reachable only
// with T > 14) are p·2^−n exactly in fp32, where quant-core rounds them to an fp16 subnormal: they differ by at most
// 2^−25. A GPU test compares this function with sasExp2 bit for bit (turbo-attn's sasProbe).
//
// Cost per pair of scores, SASS on sm_80/sm_90a (exp2 costs one MUFU.EX2 per score instead):
//   2 FADD.RM (n via the magic number), 4 FADD (f = −x − n, exact), 1 F2FP.F16.F32.PACK_AB, 6 HMUL2/HADD2 (Horner),
//   2 HADD2.F32 (unpack), 2 exponent subtractions (integer), 2 FSETP + 2 FSEL (threshold)
// ≈ 10.5 issue slots per score, all on the FMA/ALU pipes: none on the exponent unit (MUFU).
#pragma once

#include <cuda_fp16.h>

#include "qattn/mma_sm80.cuh"

namespace qattn {

// quant-core's SAS_COEFFICIENTS as fp16 bits (each coefficient is an exact fp16 value).
constexpr unsigned short kSasC0Bits = 0x3c00;  // 1
constexpr unsigned short kSasC1Bits = 0xb988;  // −0.69140625
constexpr unsigned short kSasC2Bits = 0x335f;  // 0.2303466796875
constexpr unsigned short kSasC3Bits = 0xa8fe;  // −0.03900146484375

__device__ __forceinline__ __half2 sas_coefficient(unsigned short bits) {
  const __half h = __ushort_as_half(bits);
  return __halves2half2(h, h);
}

// sas(x) for x ≤ 0 (also defined above 0, as the same formula), two at a time. x < −threshold, −∞ and NaN give 0.
__device__ __forceinline__ float2 sas_exp2_pair(float x0, float x1, float threshold) {
  const float nx0 = -x0, nx1 = -x1;
  // ⌊−x⌋ by the magic number: −x + 1.5·2^23 rounded down leaves n in the low mantissa bits (t's bits are
  // kMagicBits + n for −2^22 < −x < 2^22), so n = t − kMagic exactly and f = −x − n exactly.
  const float t0 = __fadd_rd(nx0, kMagic), t1 = __fadd_rd(nx1, kMagic);
  const float f0 = nx0 - (t0 - kMagic), f1 = nx1 - (t1 - kMagic);
  const __half2 f = __floats2half2_rn(f0, f1);
  __half2 p = __hmul2_rn(sas_coefficient(kSasC3Bits), f);
  p = __hadd2_rn(p, sas_coefficient(kSasC2Bits));
  p = __hmul2_rn(p, f);
  p = __hadd2_rn(p, sas_coefficient(kSasC1Bits));
  p = __hmul2_rn(p, f);
  p = __hadd2_rn(p, sas_coefficient(kSasC0Bits));
  const float2 p_f32 = __half22float2(p);
  // 2^−n: (kMagicBits + n) << 23 keeps n << 23 (kMagicBits << 23 overflows to 0), subtracted from p's exponent.
  // p ∈ [0.49, 1] and n ≤ 24, so the result stays a normal fp32.
  const float r0 = __int_as_float(__float_as_int(p_f32.x) - (__float_as_int(t0) << 23));
  const float r1 = __int_as_float(__float_as_int(p_f32.y) - (__float_as_int(t1) << 23));
  // nx ≤ T is false for NaN (and −x = +∞): those give exactly 0, as sasExp2's !(x >= −T).
  return make_float2(nx0 <= threshold ? r0 : 0.f, nx1 <= threshold ? r1 : 0.f);
}

__device__ __forceinline__ float sas_exp2(float x, float threshold) { return sas_exp2_pair(x, x, threshold).x; }

}  // namespace qattn
