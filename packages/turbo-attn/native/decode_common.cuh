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

// prepare_query_row for a compile-time head dim, in two parts so that a kernel can issue the row's global loads at its
// entry, beside its other first loads (one memory latency for all of them rather than one after another), and do the
// arithmetic later, in registers: lane l holds channels l + 32·j. The Walsh–Hadamard stages of 1..16 are shuffles, the
// larger ones pairs of a lane's registers, in warp_walsh_hadamard's stage order — the same operations on the same
// values as prepare_query_row, so the same bits.
template <int D>
struct QueryRowLoads {
  float q[D / 32], sign[D / 32], mean[D / 32];
};

template <int D>
__device__ __forceinline__ QueryRowLoads<D> load_query_row(const DecodeArgs& args, int b, int g, int global_row, int lane) {
  const int h = g * (args.heads / args.kv_heads) + global_row / args.query_tokens;
  const float* q = args.q + (static_cast<int64_t>(b * args.heads + h) * args.query_tokens + global_row % args.query_tokens) * D;
  const float* mean = args.k_mean + static_cast<int64_t>(b * args.kv_heads + g) * D;
  QueryRowLoads<D> loads;
#pragma unroll
  for (int j = 0; j < D / 32; ++j) {
    loads.q[j] = q[lane + 32 * j];
    loads.sign[j] = args.rotation_signs ? args.rotation_signs[lane + 32 * j] : 1.f;
    loads.mean[j] = mean[lane + 32 * j];
  }
  return loads;
}

// The rest of prepare_query_row on `loads` of query token `token` of a sequence of `length` tokens: the rotated row into
// rot[0, D) and the codes to store_code(d, code).
template <int D, typename StoreCode>
__device__ __forceinline__ QueryRow finish_query_row(const DecodeArgs& args, const QueryRowLoads<D>& loads, int length, int token, float* rot, int lane,
                                                     StoreCode store_code) {
  constexpr int J = D / 32;
  float x[J];
#pragma unroll
  for (int j = 0; j < J; ++j) x[j] = loads.q[j] * loads.sign[j];
  if (args.rotation_signs) {
#pragma unroll
    for (int half = 1; half < 32 && half < D; half <<= 1) {
#pragma unroll
      for (int j = 0; j < J; ++j) {
        const float other = __shfl_xor_sync(0xffffffffu, x[j], half);
        x[j] = lane & half ? other - x[j] : x[j] + other;  // the pair (i, i + half): i keeps a + b, i + half a − b
      }
    }
#pragma unroll
    for (int step = 1; step < J; step <<= 1) {
#pragma unroll
      for (int j = 0; j < J; ++j) {
        if (j & step) continue;
        const float a = x[j], b = x[j + step];
        x[j] = a + b;
        x[j + step] = a - b;
      }
    }
    const float norm = rsqrtf(static_cast<float>(D));
#pragma unroll
    for (int j = 0; j < J; ++j) x[j] *= norm;
  }
  float abs_max = 0.f;
#pragma unroll
  for (int j = 0; j < J; ++j) abs_max = fmaxf(abs_max, fabsf(x[j]));
  abs_max = warp_max(abs_max);
  const float scale = abs_max == 0.f ? kDecodeSafeScale : fmaxf(abs_max / 127.f, kDecodeMinScale);
  float shift = 0.f;
#pragma unroll
  for (int j = 0; j < J; ++j) {
    const int d = lane + 32 * j;
    rot[d] = x[j];
    const float code = fminf(127.f, fmaxf(-127.f, rintf(x[j] / scale)));
    store_code(d, code);
    shift += (x[j] - code * scale) * loads.mean[j];
  }
  shift = warp_sum(shift);
  return {scale, shift * args.sm_scale_log2, length - args.query_tokens + token};
}

}  // namespace qattn
