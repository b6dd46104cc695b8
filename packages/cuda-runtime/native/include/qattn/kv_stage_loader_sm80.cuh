// The K/V stage loader of the sm80 attention kernel: the cp.async copies of one key tile (K, V_t and their scales)
// into one stage of the shared-memory ring.
#pragma once

#include <cstdint>

#include "qattn/mma_sm80.cuh"
#include "qattn/smem_tile_sm80.cuh"

namespace qattn {

// T: the kernel's traits (attn_fwd_sm80.cuh): tile types, byte sizes and thread count.
template <typename T>
struct KvStageLoader {
  using KPlan = TileCopyPlan<typename T::KTile, T::kBlockN, T::kHeadDim / 16, T::kThreads>;
  using VPlan = TileCopyPlan<typename T::VTile, T::kHeadDim, T::kBlockN * T::kVElemBytes / 16, T::kThreads>;
  KPlan k_plan;
  VPlan v_plan;
  const uint8_t* k_gmem;        // [seq_kv_pad, D] s8 of this (batch, kv_head)
  const uint8_t* v_t_gmem;      // [D, seq_kv_pad] of this (batch, kv_head)
  const float* k_scale_gmem;    // [seq_kv_pad, 2]
  const float* v_scale_gmem;    // [seq_kv_pad / kKeyBlock, D, 2]
  int tid;

  __device__ __forceinline__ KvStageLoader(const int8_t* k, const void* v_t, const float* k_scale, const float* v_scale,
                                           int64_t v_row_bytes, int thread)
      : k_plan(thread, T::kHeadDim),
        v_plan(thread, v_row_bytes),
        k_gmem(reinterpret_cast<const uint8_t*>(k)),
        v_t_gmem(static_cast<const uint8_t*>(v_t)),
        k_scale_gmem(k_scale),
        v_scale_gmem(v_scale),
        tid(thread) {}

  __device__ __forceinline__ void load(uint8_t* stage_smem, int n0) const {
    const uint32_t k_smem = smem_u32(stage_smem);
    const uint32_t v_smem = k_smem + T::kKBytes;
    const uint32_t k_scale_smem = v_smem + T::kVBytes;
    const uint32_t v_scale_smem = k_scale_smem + T::kKScaleBytes;
    k_plan.copy(k_smem, k_gmem + (int64_t)n0 * T::kHeadDim);
    v_plan.copy(v_smem, v_t_gmem + (int64_t)n0 * T::kVElemBytes);
    if (tid < T::kKScaleBytes / 16) cp_async_16(k_scale_smem + tid * 16, k_scale_gmem + 2 * n0 + tid * 4);
    // The tile's key blocks are consecutive rows of v_scale.
    const float* v_scale_tile = v_scale_gmem + (int64_t)(n0 / T::kKeyBlock) * T::kHeadDim * 2;
#pragma unroll
    for (int i = tid; i < T::kVScaleBytes / 16; i += T::kThreads) cp_async_16(v_scale_smem + i * 16, v_scale_tile + i * 4);
  }
};

}  // namespace qattn
