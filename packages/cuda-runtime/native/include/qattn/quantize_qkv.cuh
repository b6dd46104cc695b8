// GPU quantization of the attention inputs into the layouts of attention_args.h, parameterized by granularity:
//   Q, K   symmetric INT8 per token (one warp per row), or per block of q_rows_per_scale / k_rows_per_scale rows (one
//          CTA per block; the block's scale is written to each of its rows); K optionally smoothed by its
//          per-channel mean over tokens (smooth_k)
//   V      INT8 per (block of key_block keys, channel), or per key block alone (v_scale_per_block, FlashQ's
//          'block'), optionally mean-smoothed (smooth_v), written transposed [D, keys] with the keys of each 32-key
//          group permuted to the P fragment order of the attention kernel; or fp16 transposed in key order (pv_fp16)
// Each pass reads its fp32 input once with coalesced accesses (block granularity reads a block twice, the second time
// from cache); smoothing adds one read of K (and V) for the means. Scales are max|x|/127 in fp32 (1 for all-zero
// rows or blocks), codes are round-half-even(x / scale) like the CPU oracles'.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "qattn/attention_args.h"
#include "qattn/capabilities.h"
#include "qattn/mma_sm80.cuh"
#include "qattn/tile_config.h"

namespace qattn {

namespace quantize_detail {

constexpr int kQuantThreads = 256;
constexpr int kQuantWarps = kQuantThreads / 32;

__device__ __forceinline__ float symmetric_scale(float abs_max) { return abs_max > 0.f ? abs_max / 127.f : 1.f; }

// The attention kernel dequantizes magic-biased INT32 accumulators with one FFMA (dequantize_magic): K and V scales
// are stored with their folded constant.
__device__ __forceinline__ float2 dequant_pair(float scale) { return make_float2(scale, -kMagic * scale); }

__device__ __forceinline__ int8_t quantize_code(float x, float scale) {
  return static_cast<int8_t>(max(-127, min(127, __float2int_rn(__fdiv_rn(x, scale)))));
}

__device__ __forceinline__ float warp_max(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// Partial per-channel sums over kStatTokensPerSplit tokens: partial[tensor][group][split][d], tensor 0 = K, 1 = V.
// grid (stat_splits, batch·kv_heads, 2).
template <int kHeadDim>
__global__ void __launch_bounds__(kQuantThreads) channel_sum_partial_kernel(const AttentionArgs args) {
  constexpr int kVecPerRow = kHeadDim / 4;
  constexpr int kLanes = kQuantThreads / kVecPerRow;  // tokens read in parallel
  const int tensor = blockIdx.z;
  if ((tensor == 0 && !args.smooth_k) || (tensor == 1 && !args.smooth_v)) return;
  const int split = blockIdx.x;
  const int64_t group = blockIdx.y;
  const float* x = (tensor == 0 ? args.k : args.v) + group * args.seq_kv * kHeadDim;  // [seq_kv, D]
  const int vec = threadIdx.x % kVecPerRow, lane = threadIdx.x / kVecPerRow;
  const int token_end = min(args.seq_kv, (split + 1) * kStatTokensPerSplit);
  float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
  // kQuantThreads need not be a multiple of D/4 (hd96): the leftover threads read nothing.
  for (int token = split * kStatTokensPerSplit + lane; lane < kLanes && token < token_end; token += kLanes) {
    const float4 value = reinterpret_cast<const float4*>(x + (int64_t)token * kHeadDim)[vec];
    sum.x += value.x;
    sum.y += value.y;
    sum.z += value.z;
    sum.w += value.w;
  }
  __shared__ float4 lane_sums[kLanes][kVecPerRow];  // [kLanes, D/4]
  if (lane < kLanes) lane_sums[lane][vec] = sum;
  __syncthreads();
  if (threadIdx.x < kVecPerRow) {
    float4 total = lane_sums[0][vec];
    for (int l = 1; l < kLanes; ++l) {  // fixed order: the means are bit-reproducible
      total.x += lane_sums[l][vec].x;
      total.y += lane_sums[l][vec].y;
      total.z += lane_sums[l][vec].z;
      total.w += lane_sums[l][vec].w;
    }
    const int64_t groups = gridDim.y;
    float4* partial = reinterpret_cast<float4*>(args.stat_partial + ((tensor * groups + group) * args.stat_splits + split) * kHeadDim);
    partial[vec] = total;
  }
}

// Channel means from the partial sums. grid (batch·kv_heads, 2), block kHeadDim.
template <int kHeadDim>
__global__ void channel_mean_kernel(const AttentionArgs args) {
  const int tensor = blockIdx.y;
  if ((tensor == 0 && !args.smooth_k) || (tensor == 1 && !args.smooth_v)) return;
  const int64_t group = blockIdx.x, groups = gridDim.x;
  const int d = threadIdx.x;
  const float* partial = args.stat_partial + (tensor * groups + group) * args.stat_splits * kHeadDim;  // [splits, D]
  float sum = 0.f;
  for (int split = 0; split < args.stat_splits; ++split) sum += partial[split * kHeadDim + d];
  (tensor == 0 ? args.k_mean : args.v_mean)[group * kHeadDim + d] = sum / args.seq_kv;
}

// One row of D values, kHeadDim / 32 consecutive channels per lane, minus the channel mean when given.
template <int kHeadDim>
struct RowSlice {
  static constexpr int kPerLane = kHeadDim / 32;  // 1, 2, 3, 4 or 8
  float value[kPerLane];

  __device__ __forceinline__ void load(const float* x_row, const float* mean_row, int lane) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      value[i] = x_row[lane * kPerLane + i];
      if (mean_row != nullptr) value[i] -= mean_row[lane * kPerLane + i];
    }
  }
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) value[i] = 0.f;
  }
  __device__ __forceinline__ float abs_max() const {
    float m = 0.f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) m = fmaxf(m, fabsf(value[i]));
    return m;
  }
  __device__ __forceinline__ void store_codes(int8_t* code_row, float scale, int lane) const {
    int8_t packed[kPerLane];
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) packed[i] = quantize_code(value[i], scale);
    if constexpr (kPerLane == 4) {
      *reinterpret_cast<char4*>(code_row + lane * kPerLane) = make_char4(packed[0], packed[1], packed[2], packed[3]);
    } else {
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) code_row[lane * kPerLane + i] = packed[i];
    }
  }
};

template <bool kScalePairs>
__device__ __forceinline__ void store_scale(float* scales, int64_t index, float scale) {
  if constexpr (kScalePairs) {
    reinterpret_cast<float2*>(scales)[index] = dequant_pair(scale);
  } else {
    scales[index] = scale;
  }
}

// Per token: one warp per row: x − mean (optional), scale = max|·|/127, codes. Rows in [seq, seq_pad) get codes 0
// and scale 1. Scales are plain (Q) or dequantization pairs (K). grid (seq_pad / 8, groups), 8 warps.
template <int kHeadDim, bool kScalePairs>
__global__ void __launch_bounds__(kQuantThreads) quantize_rows_int8_kernel(const float* x, const float* channel_mean,
                                                                           int8_t* codes, float* scales, int seq,
                                                                           int seq_pad) {
  const int lane = threadIdx.x % 32;
  const int row = blockIdx.x * kQuantWarps + threadIdx.x / 32;
  const int64_t group = blockIdx.y;
  if (row >= seq_pad) return;
  RowSlice<kHeadDim> slice;
  if (row < seq) {
    slice.load(x + (group * seq + row) * kHeadDim, channel_mean != nullptr ? channel_mean + group * kHeadDim : nullptr, lane);
  } else {
    slice.zero();
  }
  const float scale = symmetric_scale(warp_max(slice.abs_max()));
  slice.store_codes(codes + (group * seq_pad + row) * kHeadDim, scale, lane);
  if (lane == 0) store_scale<kScalePairs>(scales, group * seq_pad + row, scale);
}

// Per block of rows_per_scale rows: one CTA per block, the block's max over its rows < seq (first pass), then codes
// and the block's scale on every row of the block (second pass, re-reading the rows from cache). Rows in
// [seq, seq_pad) get codes 0 and their block's scale (1 for a block with no row < seq). grid (blocks, groups).
template <int kHeadDim, bool kScalePairs>
__global__ void __launch_bounds__(kQuantThreads) quantize_row_blocks_int8_kernel(const float* x, const float* channel_mean,
                                                                                 int8_t* codes, float* scales, int seq,
                                                                                 int seq_pad, int rows_per_scale) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t group = blockIdx.y;
  const int block_start = blockIdx.x * rows_per_scale;
  const int block_end = min(block_start + rows_per_scale, seq_pad);
  const int data_end = min(block_end, seq);
  const float* mean_row = channel_mean != nullptr ? channel_mean + group * kHeadDim : nullptr;
  float abs_max = 0.f;
  for (int row = block_start + warp; row < data_end; row += kQuantWarps) {
    RowSlice<kHeadDim> slice;
    slice.load(x + (group * seq + row) * kHeadDim, mean_row, lane);
    abs_max = fmaxf(abs_max, slice.abs_max());
  }
  __shared__ float warp_maxima[kQuantWarps];
  abs_max = warp_max(abs_max);
  if (lane == 0) warp_maxima[warp] = abs_max;
  __syncthreads();
#pragma unroll
  for (int w = 0; w < kQuantWarps; ++w) abs_max = fmaxf(abs_max, warp_maxima[w]);
  const float scale = symmetric_scale(abs_max);
  for (int row = block_start + warp; row < block_end; row += kQuantWarps) {
    RowSlice<kHeadDim> slice;
    if (row < seq) {
      slice.load(x + (group * seq + row) * kHeadDim, mean_row, lane);
    } else {
      slice.zero();
    }
    slice.store_codes(codes + (group * seq_pad + row) * kHeadDim, scale, lane);
    if (lane == 0) store_scale<kScalePairs>(scales, group * seq_pad + row, scale);
  }
}

// Position of key `k` (0..31) of a 32-key group inside V_t's row. The attention kernel packs P codes in accumulator
// order: position 16·h + 4·c + i holds key 16·h + 8·(i / 2) + 2·c + i % 2 (h half, c quad lane, i byte).
__device__ __forceinline__ int v_key_position(int k) {
  const int half = k / 16, w = k % 16;
  return 16 * half + 4 * ((w % 8) / 2) + 2 * (w / 8) + w % 2;
}

template <int kHeadDim>
constexpr int quantize_v_threads() {
  return (kQuantThreads / kHeadDim) * kHeadDim;  // whole channels: kKeyGroups threads per channel
}

// One CTA per kVQuantKeys (64) keys of one (batch, kv_head): scales over each key block (32 or 64 keys) per channel,
// or per block over every channel, codes staged transposed in shared memory, then written as 16-byte row segments of
// V_t. grid (seq_kv_pad / 64, groups).
template <int kHeadDim, bool kFp16>
__global__ void __launch_bounds__(quantize_v_threads<kHeadDim>()) quantize_v_kernel(const AttentionArgs args) {
  constexpr int kKeys = kVQuantKeys;
  constexpr int kHalfKeys = kKeys / 2;
  constexpr int kThreads = quantize_v_threads<kHeadDim>();
  constexpr int kKeyGroups = kThreads / kHeadDim;  // threads per channel (1..8); requires kHeadDim <= 256
  constexpr int kKeysPerThread = kKeys / kKeyGroups;
  constexpr int kElemBytes = kFp16 ? 2 : 1;
  constexpr int kRowBytes = kKeys * kElemBytes;         // one V_t row segment: 64 or 128 bytes
  static_assert(kKeys % kKeyGroups == 0, "whole keys per thread");
  const int block = blockIdx.x;
  const int64_t group = blockIdx.y;
  const int d = threadIdx.x % kHeadDim, key_group = threadIdx.x / kHeadDim;
  const int key0 = block * kKeys;
  const float* v = args.v + group * args.seq_kv * kHeadDim;  // [seq_kv, D]
  const float mean = args.smooth_v ? args.v_mean[group * kHeadDim + d] : 0.f;

  float value[kKeysPerThread];  // keys key_group + kKeyGroups·i of channel d
  float abs_max[2] = {0.f, 0.f};  // over the first and the second 32 keys (kKeyGroups divides 32)
#pragma unroll
  for (int i = 0; i < kKeysPerThread; ++i) {
    const int key = key0 + key_group + kKeyGroups * i;
    value[i] = key < args.seq_kv ? v[(int64_t)key * kHeadDim + d] - mean : 0.f;
    abs_max[kKeyGroups * i / kHalfKeys] = fmaxf(abs_max[kKeyGroups * i / kHalfKeys], fabsf(value[i]));
  }

  __shared__ __align__(16) uint8_t staged[kHeadDim][kRowBytes];  // [D, 64 keys] in V_t order
  float scale[2] = {1.f, 1.f};  // of the first and the second 32 keys
  if constexpr (!kFp16) {
    __shared__ float group_max[2][kKeyGroups][kHeadDim];
    group_max[0][key_group][d] = abs_max[0];
    group_max[1][key_group][d] = abs_max[1];
    __syncthreads();
    float half_max[2] = {0.f, 0.f};
#pragma unroll
    for (int g = 0; g < kKeyGroups; ++g) {
      half_max[0] = fmaxf(half_max[0], group_max[0][g][d]);
      half_max[1] = fmaxf(half_max[1], group_max[1][g][d]);
    }
    if (args.v_scale_per_block) {  // uniform: the max over every channel too
      constexpr int kWarps = kThreads / 32;
      __shared__ float warp_half_max[2][kWarps];
      half_max[0] = warp_max(half_max[0]);
      half_max[1] = warp_max(half_max[1]);
      if (threadIdx.x % 32 == 0) {
        warp_half_max[0][threadIdx.x / 32] = half_max[0];
        warp_half_max[1][threadIdx.x / 32] = half_max[1];
      }
      __syncthreads();
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        half_max[0] = fmaxf(half_max[0], warp_half_max[0][w]);
        half_max[1] = fmaxf(half_max[1], warp_half_max[1][w]);
      }
    }
    float2* v_scale = reinterpret_cast<float2*>(args.v_scale) + group * (args.seq_kv_pad / args.key_block) * kHeadDim;
    if (args.key_block == kKeys) {  // [key blocks, D] dequantization pairs
      scale[0] = scale[1] = symmetric_scale(fmaxf(half_max[0], half_max[1]));
      if (key_group == 0) v_scale[block * kHeadDim + d] = dequant_pair(scale[0]);
    } else {
      scale[0] = symmetric_scale(half_max[0]);
      scale[1] = symmetric_scale(half_max[1]);
      if (key_group == 0) {
        v_scale[(2 * block) * kHeadDim + d] = dequant_pair(scale[0]);
        v_scale[(2 * block + 1) * kHeadDim + d] = dequant_pair(scale[1]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kKeysPerThread; ++i) {
    const int key = key_group + kKeyGroups * i;
    if constexpr (kFp16) {
      reinterpret_cast<__half*>(staged[d])[key] = __float2half_rn(value[i]);
    } else {
      staged[d][32 * (key / 32) + v_key_position(key % 32)] =
          static_cast<uint8_t>(quantize_code(value[i], scale[key / kHalfKeys]));
    }
  }
  __syncthreads();
  constexpr int kChunksPerRow = kRowBytes / 16;
  uint8_t* v_t = static_cast<uint8_t*>(args.v_t) + group * kHeadDim * args.seq_kv_pad * kElemBytes;  // [D, seq_kv_pad]
  for (int i = threadIdx.x; i < kHeadDim * kChunksPerRow; i += kThreads) {
    const int row = i / kChunksPerRow, chunk = i % kChunksPerRow;
    *reinterpret_cast<uint4*>(v_t + (int64_t)row * args.seq_kv_pad * kElemBytes + (int64_t)key0 * kElemBytes + chunk * 16) =
        *reinterpret_cast<const uint4*>(&staged[row][chunk * 16]);
  }
}

// Q or K rows at their granularity: per token (rows_per_scale 1) or per block.
template <int kHeadDim, bool kScalePairs>
void launch_quantize_rows(const float* x, const float* channel_mean, int8_t* codes, float* scales, int seq, int seq_pad,
                          int rows_per_scale, int groups, cudaStream_t stream) {
  if (rows_per_scale <= 1) {
    quantize_rows_int8_kernel<kHeadDim, kScalePairs><<<dim3((seq_pad + kQuantWarps - 1) / kQuantWarps, groups), kQuantThreads, 0, stream>>>(
        x, channel_mean, codes, scales, seq, seq_pad);
  } else {
    const int blocks = (seq_pad + rows_per_scale - 1) / rows_per_scale;
    quantize_row_blocks_int8_kernel<kHeadDim, kScalePairs><<<dim3(blocks, groups), kQuantThreads, 0, stream>>>(
        x, channel_mean, codes, scales, seq, seq_pad, rows_per_scale);
  }
}

template <int kHeadDim>
cudaError_t launch_quantize_qkv_impl(const AttentionArgs& args, cudaStream_t stream) {
  const int q_groups = args.batch * args.heads, kv_groups = args.batch * args.kv_heads;
  if (args.smooth_k || args.smooth_v) {
    channel_sum_partial_kernel<kHeadDim><<<dim3(args.stat_splits, kv_groups, 2), kQuantThreads, 0, stream>>>(args);
    channel_mean_kernel<kHeadDim><<<dim3(kv_groups, 2), kHeadDim, 0, stream>>>(args);
  }
  launch_quantize_rows<kHeadDim, false>(args.q, nullptr, args.q_int8, args.q_scale, args.seq_q, args.seq_q_pad,
                                        args.q_rows_per_scale, q_groups, stream);
  launch_quantize_rows<kHeadDim, true>(args.k, args.smooth_k ? args.k_mean : nullptr, args.k_int8, args.k_scale,
                                       args.seq_kv, args.seq_kv_pad, args.k_rows_per_scale, kv_groups, stream);
  const dim3 v_grid(args.seq_kv_pad / kVQuantKeys, kv_groups);
  if (args.pv_fp16) {
    quantize_v_kernel<kHeadDim, true><<<v_grid, quantize_v_threads<kHeadDim>(), 0, stream>>>(args);
  } else {
    quantize_v_kernel<kHeadDim, false><<<v_grid, quantize_v_threads<kHeadDim>(), 0, stream>>>(args);
  }
  return cudaGetLastError();
}

}  // namespace quantize_detail

// Quantizes q, k, v of one call (and their smoothing means) into the argument block's workspace, on `stream`.
// Compiled for the package's head dims (qattn/capabilities.h).
inline cudaError_t launch_quantize_qkv(const AttentionArgs& args, cudaStream_t stream) {
  switch (args.head_dim) {
#define QATTN_QUANTIZE_HEAD_DIM_CASE(dim) \
  case dim: return quantize_detail::launch_quantize_qkv_impl<dim>(args, stream);
    QATTN_FOR_EACH_HEAD_DIM(QATTN_QUANTIZE_HEAD_DIM_CASE)
#undef QATTN_QUANTIZE_HEAD_DIM_CASE
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace qattn
