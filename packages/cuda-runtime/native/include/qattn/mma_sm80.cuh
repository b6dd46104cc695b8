// Warp-level building blocks of the sm80+ kernels: cp.async, ldmatrix, mma.sync, and the INT32 <-> fp32 tricks the
// attention epilogues use (magic-number dequantization, P code rounding and packing).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace qattn {

__device__ __forceinline__ uint32_t smem_u32(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

// 16-byte global -> shared copy that bypasses L1 (.cg); completes at cp_async_wait.
__device__ __forceinline__ void cp_async_16(uint32_t smem_addr, const void* global) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr), "l"(global));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPendingGroups>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPendingGroups));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t smem_addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr));
}

// D = A·B + D, A 16x32 s8 (row), B 32x8 s8 (col), D 16x8 s32.
__device__ __forceinline__ void mma_s8_16832(int32_t (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// D = A·B + D, A 16x32 u8 (row), B 32x8 s8 (col), D 16x8 s32: P·V with P's unsigned codes (P ≥ 0), V signed.
__device__ __forceinline__ void mma_u8s8_16832(int32_t (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// D = A·B + D, A 16x16 f16 (row), B 16x8 f16 (col), D 16x8 f32.
__device__ __forceinline__ void mma_f16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// INT32 -> fp32 without I2F: an INT32 MMA accumulator that starts at kMagicBits (the bits of kMagic = 1.5·2^23)
// ends as the bits of the float kMagic + acc, exactly, while |acc| < 2^22 (every accumulator here is bounded by
// 2^22: Q·Kᵀ by 127·127·256 (hd256), P·V by 255·127·64 (u8 P codes, 64-key blocks)). Dequantizing is then one
// FFMA: acc·s = fma(bits_as_float, s, −kMagic·s). Biased accumulators read as floats keep the integer order, so a
// row max can be taken on them directly.
constexpr int32_t kMagicBits = 0x4B400000;
constexpr float kMagic = 12582912.0f;

// fma(bits_as_float(kMagic + acc), scale, −kMagic·scale) = acc·scale up to the rounding of the folded constant: an
// error of at most one INT32 unit times scale, far below the INT8 rounding noise of the accumulated products.
__device__ __forceinline__ float dequantize_magic(int32_t magic_acc, float scale, float neg_magic_scale) {
  return fmaf(__int_as_float(magic_acc), scale, neg_magic_scale);
}

// round-half-even(p·encode) for results in [0, 255], as the low byte of the returned word (a u8 code): adding kMagic
// inside the FFMA rounds the exact product into the mantissa.
__device__ __forceinline__ uint32_t round_to_low_byte(float p, float encode) {
  return __float_as_uint(fmaf(p, encode, kMagic));
}

// Packs the low bytes of four words into one (byte 0 = a).
__device__ __forceinline__ uint32_t pack_low_bytes(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return __byte_perm(__byte_perm(a, b, 0x0040), __byte_perm(c, d, 0x0040), 0x5410);
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace qattn
