// Device pieces both split-KV decode kernels share (decode_paged_splitkv.cu: SIMT dp4a; decode_paged_mma.cu: tensor
// cores): warp reductions, the Walsh–Hadamard rotation of q, the variant's exponent, the pool of a page width, and the
// query-row preparation that both must do exactly as the CPU oracle (src/decode/decode_paged_cpu.ts) does.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "decode_args.h"
#include "decode_smem_layout.h"
#include "qattn/sas_exp2.cuh"

namespace qattn {

__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// In-place unnormalized Walsh–Hadamard transform of row[0, n) by one warp (n a power of two).
__device__ inline void warp_walsh_hadamard(float* row, int n, int lane) {
  for (int half = 1; half < n; half <<= 1) {
    __syncwarp();
    for (int p = lane; p < n / 2; p += 32) {
      const int i = (p / half) * 2 * half + p % half;
      const float a = row[i], b = row[i + half];
      row[i] = a + b;
      row[i + half] = a - b;
    }
  }
  __syncwarp();
}

__device__ __forceinline__ float decode_exp2(float x, int exponent, float threshold) {
  return exponent == kDecodeExponentSas ? sas_exp2(x, threshold) : exp2f(x);
}

// The pool of a page width (decode_args.h: 8 → pools[0], 4 → pools[1], 2 → pools[2]), by value: indexing the
// parameter array with a run-time index would copy it to local memory.
__device__ __forceinline__ DecodePoolArgs pool_of(const DecodeTensorArgs& tensor, int bits) {
  return bits == 8 ? tensor.pools[0] : bits == 4 ? tensor.pools[1] : tensor.pools[2];
}

// What prepare_query_row leaves for one query row.
struct QueryRow {
  float scale;     // s_q
  float shift;     // δ, base 2
  int last_key;    // the row's last visible key
};

// Query row `tile_row` of (sequence b, kv head g) — the oracle's q preparation, by one warp: q rotated like the cache
// into rot[0, D) (fp32, for the sink), quantized to INT8 per row (codes handed to store_code(d, code)), and
// δ = (q − q̂·s_q)·mean(K)·σ·log2 e, which puts back the part of q's rounding error that does not average over keys.
template <typename StoreCode>
__device__ QueryRow prepare_query_row(const DecodeArgs& args, int b, int g, int global_row, float* rot, int lane, StoreCode store_code) {
  const int D = args.head_dim;
  const int group_size = args.heads / args.kv_heads;
  const int h = g * group_size + global_row / args.query_tokens;
  const int i = global_row % args.query_tokens;
  const float* q = args.q + (static_cast<int64_t>(b * args.heads + h) * args.query_tokens + i) * D;
  for (int d = lane; d < D; d += 32) rot[d] = q[d] * (args.rotation_signs ? args.rotation_signs[d] : 1.f);
  if (args.rotation_signs) {
    warp_walsh_hadamard(rot, D, lane);
    const float norm = rsqrtf(static_cast<float>(D));
    for (int d = lane; d < D; d += 32) rot[d] *= norm;
  }
  __syncwarp();
  float abs_max = 0.f;
  for (int d = lane; d < D; d += 32) abs_max = fmaxf(abs_max, fabsf(rot[d]));
  abs_max = warp_max(abs_max);
  const float scale = abs_max == 0.f ? kDecodeSafeScale : fmaxf(abs_max / 127.f, kDecodeMinScale);
  float shift = 0.f;
  const float* k_mean = args.k_mean + static_cast<int64_t>(b * args.kv_heads + g) * D;
  for (int d = lane; d < D; d += 32) {
    const float code = fminf(127.f, fmaxf(-127.f, rintf(rot[d] / scale)));
    store_code(d, code);
    shift += (rot[d] - code * scale) * k_mean[d];
  }
  shift = warp_sum(shift);
  return {scale, shift * args.sm_scale_log2, args.lengths[b] - args.query_tokens + i};
}

}  // namespace qattn
