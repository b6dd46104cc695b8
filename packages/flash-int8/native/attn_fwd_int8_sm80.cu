// INT-FlashAttention forward on sm80+ tensor cores (mma.sync), FlashAttention-2 schedule.
//
// One CTA owns kBlockM queries of one (batch, head); each warp owns 16 of those rows for the whole pass, so the online
// softmax never leaves registers. Per key tile of kBlockN keys:
//   S = Q̂·K̂ᵀ            INT8 x INT8 -> INT32, mma.m16n8k32 (Q fragments stay in registers)
//   x = S·s_q·s_k·σ·log2e  fp32 ("x domain": base-2 logits), masked to −inf where causal/tail
//   P = exp2(x − m_new)    online softmax, O and l rescaled by exp2(m_old − m_new)
//   P̂ = rint(P·127/rowmax) INT8 codes ('rowmax') or rint(P·127) ('global'), packed straight from the S accumulator
//   O += (P̂·V̂)·p_descale·v_scale   INT8 x INT8 -> INT32 per 8 channels, dequantized into fp32 O at once
// The 'fp16' PV variant keeps P in fp16 and runs P·V with mma.m16n8k16 into fp32 O directly.
// K/V tiles stream through a cp.async ring of kStages stages; fully masked key tiles (causal) are never loaded.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "flash_int8_args.h"
#include "mma_sm80.cuh"
#include "tile_config.h"

namespace qattn {

template <int HeadDim, bool PvFp16>
struct AttnFwdInt8Sm80Traits {
  static constexpr int kHeadDim = HeadDim;
  static constexpr bool kPvFp16 = PvFp16;
  static constexpr TileConfig kTile = tile_config_sm80(kHeadDim);
  static constexpr int kBlockM = kTile.block_m;
  static constexpr int kBlockN = kTile.block_n;
  static constexpr int kWarps = kTile.num_warps;
  static constexpr int kStages = kTile.stages;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kVElemBytes = kPvFp16 ? 2 : 1;

  using QTile = SwizzledTile<kHeadDim>;                // [kBlockM, kHeadDim] s8
  using KTile = SwizzledTile<kHeadDim>;                // [kBlockN, kHeadDim] s8
  using VTile = SwizzledTile<kBlockN * kVElemBytes>;   // [kHeadDim, kBlockN] s8 (permuted keys) or f16: V transposed

  static constexpr int kQBytes = kBlockM * QTile::kStride;
  static constexpr int kKBytes = kBlockN * KTile::kStride;
  static constexpr int kVBytes = kHeadDim * VTile::kStride;
  static constexpr int kKScaleBytes = kBlockN * 4;     // [kBlockN] fp32
  static constexpr int kVScaleBytes = kHeadDim * 4;    // [kHeadDim] fp32
  static constexpr int kStageBytes = kKBytes + kVBytes + kKScaleBytes + kVScaleBytes;
  static constexpr int kSmemBytes = kQBytes + kStages * kStageBytes;

  static constexpr int kSTiles = kBlockN / 8;          // n8 tiles of S per warp
  static constexpr int kOTiles = kHeadDim / 8;         // n8 tiles of O per warp
  static constexpr int kQkChunks = kHeadDim / 32;      // k32 steps of Q·Kᵀ
  static constexpr int kPvChunks = kPvFp16 ? kBlockN / 16 : kBlockN / 32;  // k steps of P·V

  static_assert(kBlockM == 16 * kWarps, "one warp per 16 query rows");
  static_assert(kBlockN == kVScaleBlock, "V scales are per block of kBlockN keys");
  static_assert(kHeadDim % 32 == 0 && kBlockN % 32 == 0, "k32 steps");
  static_assert(kStages == 2, "the loop below is written for a double buffer");
  static_assert(kStageBytes % 128 == 0 && kQBytes % 128 == 0, "swizzled tiles need 128-byte aligned bases");
};

// Issues the cp.async copies of key tile `n0` (K, V_t, their scales) into one stage.
template <typename T>
__device__ __forceinline__ void load_kv_stage(uint8_t* stage_smem, const int8_t* k_gmem, const float* k_scale_gmem,
                                              const uint8_t* v_t_gmem, const float* v_scale_gmem, int64_t v_row_bytes,
                                              int n0, int tid) {
  const uint32_t k_smem = smem_u32(stage_smem);
  const uint32_t v_smem = k_smem + T::kKBytes;
  const uint32_t k_scale_smem = v_smem + T::kVBytes;
  const uint32_t v_scale_smem = k_scale_smem + T::kKScaleBytes;
  constexpr int kKChunksPerRow = T::kHeadDim / 16;
  constexpr int kVChunksPerRow = T::kBlockN * T::kVElemBytes / 16;
#pragma unroll
  for (int i = tid; i < T::kBlockN * kKChunksPerRow; i += T::kThreads) {
    const int row = i / kKChunksPerRow, chunk = i % kKChunksPerRow;
    cp_async_16(k_smem + T::KTile::offset(row, chunk), k_gmem + (int64_t)(n0 + row) * T::kHeadDim + chunk * 16);
  }
#pragma unroll
  for (int i = tid; i < T::kHeadDim * kVChunksPerRow; i += T::kThreads) {
    const int row = i / kVChunksPerRow, chunk = i % kVChunksPerRow;
    cp_async_16(v_smem + T::VTile::offset(row, chunk),
                v_t_gmem + row * v_row_bytes + (int64_t)n0 * T::kVElemBytes + chunk * 16);
  }
  if (tid < T::kBlockN / 4) cp_async_16(k_scale_smem + tid * 16, k_scale_gmem + n0 + tid * 4);
  if (tid < T::kHeadDim / 4) {
    cp_async_16(v_scale_smem + tid * 16, v_scale_gmem + (int64_t)(n0 / kVScaleBlock) * T::kHeadDim + tid * 4);
  }
}

template <int kHeadDim, bool kPvFp16>
__global__ void __launch_bounds__(AttnFwdInt8Sm80Traits<kHeadDim, kPvFp16>::kThreads, 1)
    attn_fwd_int8_sm80_kernel(const FlashInt8Args args) {
  using T = AttnFwdInt8Sm80Traits<kHeadDim, kPvFp16>;
  constexpr int kBlockM = T::kBlockM, kBlockN = T::kBlockN;
  extern __shared__ __align__(128) uint8_t smem[];

  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int group = lane / 4;   // accumulator row (and row + 8) inside the warp's 16 rows
  const int quad = lane % 4;    // accumulator column pair 2·quad, 2·quad + 1 inside each n8 tile
  // Causal: the last query tiles see the most keys; launch them first so the tail of the grid is short.
  const int m_block = args.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
  const int head = blockIdx.y, batch = blockIdx.z;
  const int kv_head = head / (args.heads / args.kv_heads);
  const int m0 = m_block * kBlockM;
  const int diag = args.seq_kv - args.seq_q;  // causal: query i sees keys j <= i + diag (bottom-right aligned)

  const int key_end = args.causal ? min(args.seq_kv, m0 + kBlockM + diag) : args.seq_kv;
  const int n_blocks = key_end > 0 ? (key_end + kBlockN - 1) / kBlockN : 0;
  // Key tiles below first_masked need no element mask: fully inside seq_kv and visible to the tile's first row.
  int first_masked = args.seq_kv / kBlockN;
  if (args.causal) first_masked = min(first_masked, max(0, m0 + diag + 1) / kBlockN);

  const int row0 = m0 + warp * 16 + group;  // this thread's rows: row0 and row0 + 8
  const int64_t bh = (int64_t)batch * args.heads + head;
  const int64_t bkv = (int64_t)batch * args.kv_heads + kv_head;
  float* out_rows = args.out + bh * args.seq_q * kHeadDim;

  if (n_blocks == 0) {  // every query of this tile sees no key: zero rows, as the reference defines them
    for (int i = tid; i < kBlockM * kHeadDim; i += T::kThreads) {
      const int row = m0 + i / kHeadDim;
      if (row < args.seq_q) out_rows[(int64_t)row * kHeadDim + i % kHeadDim] = 0.f;
    }
    return;
  }

  const int8_t* q_gmem = args.q_int8 + (bh * args.seq_q_pad + m0) * kHeadDim;               // [kBlockM, D]
  const int8_t* k_gmem = args.k_int8 + bkv * args.seq_kv_pad * kHeadDim;                    // [seq_kv_pad, D]
  const float* k_scale_gmem = args.k_scale + bkv * args.seq_kv_pad;                         // [seq_kv_pad]
  const int64_t v_row_bytes = (int64_t)args.seq_kv_pad * T::kVElemBytes;
  const uint8_t* v_t_gmem = static_cast<const uint8_t*>(args.v_t) + bkv * kHeadDim * v_row_bytes;  // [D, seq_kv_pad]
  const float* v_scale_gmem = args.v_scale + bkv * (args.seq_kv_pad / kVScaleBlock) * kHeadDim;   // [blocks, D]

  uint8_t* q_smem = smem;                 // [kBlockM, D] s8, swizzled
  uint8_t* stage_smem = smem + T::kQBytes;  // kStages x {K, V_t, k_scale, v_scale}

  {
    constexpr int kChunksPerRow = kHeadDim / 16;
    const uint32_t q_smem_u32 = smem_u32(q_smem);
#pragma unroll
    for (int i = tid; i < kBlockM * kChunksPerRow; i += T::kThreads) {
      const int row = i / kChunksPerRow, chunk = i % kChunksPerRow;
      cp_async_16(q_smem_u32 + T::QTile::offset(row, chunk), q_gmem + row * kHeadDim + chunk * 16);
    }
  }
  load_kv_stage<T>(stage_smem, k_gmem, k_scale_gmem, v_t_gmem, v_scale_gmem, v_row_bytes, 0, tid);
  cp_async_commit();

  // Q scales of this thread's two rows, in the x domain (σ·log2e folded in). Padded rows have scale 1 and codes 0.
  const float q_scale_x[2] = {args.q_scale[bh * args.seq_q_pad + row0] * args.sm_scale_log2,
                              args.q_scale[bh * args.seq_q_pad + row0 + 8] * args.sm_scale_log2};

  uint32_t q_frag[T::kQkChunks][4];  // A fragments of the warp's [16, D] Q rows
  float o_acc[T::kOTiles][4];        // [16, D] fp32 per warp: rows (group, group + 8), cols 8·t + 2·quad + {0,1}
  float m_run[2] = {-INFINITY, -INFINITY};  // running row max, x domain
  float l_run[2] = {0.f, 0.f};              // running row sum of P, this thread's columns only (quad-reduced at the end)
#pragma unroll
  for (int t = 0; t < T::kOTiles; ++t) {
#pragma unroll
    for (int e = 0; e < 4; ++e) o_acc[t][e] = 0.f;
  }

  for (int n_block = 0; n_block < n_blocks; ++n_block) {
    const int n0 = n_block * kBlockN;
    uint8_t* cur_smem = stage_smem + (n_block % 2) * T::kStageBytes;
    if (n_block + 1 < n_blocks) {
      // Hazard: the stage written here was read in iteration n_block − 1; its trailing __syncthreads orders that.
      load_kv_stage<T>(stage_smem + ((n_block + 1) % 2) * T::kStageBytes, k_gmem, k_scale_gmem, v_t_gmem,
                       v_scale_gmem, v_row_bytes, n0 + kBlockN, tid);
    }
    cp_async_commit();    // possibly empty: keeps "all but the newest group" meaning "this tile"
    cp_async_wait<1>();
    __syncthreads();

    if (n_block == 0) {
#pragma unroll
      for (int kc = 0; kc < T::kQkChunks; ++kc) {
        ldmatrix_x4(q_frag[kc], smem_u32(q_smem) + T::QTile::offset(warp * 16 + lane % 16, 2 * kc + lane / 16));
      }
    }

    const uint32_t k_smem = smem_u32(cur_smem);
    const uint32_t v_smem = k_smem + T::kKBytes;
    const float* k_scale_smem = reinterpret_cast<const float*>(cur_smem + T::kKBytes + T::kVBytes);  // [kBlockN]
    const float* v_scale_smem = k_scale_smem + kBlockN;                                              // [D]

    // S = Q̂·K̂ᵀ: [16, kBlockN] INT32 per warp.
    int32_t s_acc[T::kSTiles][4];
#pragma unroll
    for (int t = 0; t < T::kSTiles; ++t) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s_acc[t][e] = 0;
    }
#pragma unroll
    for (int kc = 0; kc < T::kQkChunks; ++kc) {
#pragma unroll
      for (int np = 0; np < T::kSTiles / 2; ++np) {
        uint32_t k_frag[4];  // B fragments of keys 16·np + [0, 8) and + [8, 16), k bytes 32·kc + [0, 32)
        ldmatrix_x4(k_frag, k_smem + T::KTile::offset(16 * np + lane % 8 + 8 * (lane / 16), 2 * kc + (lane / 8) % 2));
        mma_s8_16832(s_acc[2 * np], q_frag[kc], k_frag[0], k_frag[1]);
        mma_s8_16832(s_acc[2 * np + 1], q_frag[kc], k_frag[2], k_frag[3]);
      }
    }

    // y = S·s_k (the row factor s_q·σ·log2e is applied with the max subtraction: x = y·q_scale_x).
    float y[T::kSTiles][4];
    const bool needs_mask = n_block >= first_masked;
#pragma unroll
    for (int t = 0; t < T::kSTiles; ++t) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = 8 * t + 2 * quad + (e & 1);
        y[t][e] = int_to_float_exact(s_acc[t][e]) * k_scale_smem[col];
        if (needs_mask) {
          const int key = n0 + col, row = row0 + 8 * (e >> 1);
          if (key >= args.seq_kv || (args.causal && key > row + diag)) y[t][e] = -INFINITY;
        }
      }
    }

    float p_descale[2];  // fp32 value of one P code unit, per row
    float p_encode[2];   // P -> code factor, per row
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float y_max = -INFINITY;
#pragma unroll
      for (int t = 0; t < T::kSTiles; ++t) y_max = fmaxf(y_max, fmaxf(y[t][2 * r], y[t][2 * r + 1]));
      y_max = fmaxf(y_max, __shfl_xor_sync(0xffffffffu, y_max, 1));
      y_max = fmaxf(y_max, __shfl_xor_sync(0xffffffffu, y_max, 2));
      const float tile_max_x = y_max * q_scale_x[r];
      const float m_new = fmaxf(m_run[r], tile_max_x);
      // A row that has seen only masked keys keeps m = −inf; subtracting 0 then keeps exp2(−inf) = 0 and no NaN.
      const float m_sub = m_new == -INFINITY ? 0.f : m_new;
      const float alpha = fast_exp2(m_run[r] - m_sub);
      m_run[r] = m_new;
      float row_sum = 0.f;
#pragma unroll
      for (int t = 0; t < T::kSTiles; ++t) {
#pragma unroll
        for (int e = 2 * r; e < 2 * r + 2; ++e) {
          y[t][e] = fast_exp2(fmaf(y[t][e], q_scale_x[r], -m_sub));  // y now holds P in (0, 1]
          row_sum += y[t][e];
        }
      }
      l_run[r] = l_run[r] * alpha + row_sum;
#pragma unroll
      for (int t = 0; t < T::kOTiles; ++t) {
        o_acc[t][2 * r] *= alpha;
        o_acc[t][2 * r + 1] *= alpha;
      }
      if (!kPvFp16) {
        // 'rowmax': the tile's largest P of the row maps to code 127, so small probabilities keep resolution.
        const float p_tile_max = fast_exp2(tile_max_x - m_sub);
        const bool rowmax = args.p_rowmax && p_tile_max > 0.f;
        p_encode[r] = rowmax ? 127.f / p_tile_max : 127.f;
        p_descale[r] = rowmax ? p_tile_max * (1.f / 127.f) : 1.f / 127.f;
      }
    }

    if constexpr (!kPvFp16) {
      // P̂ as A fragments of m16n8k32. Keys are taken in accumulator order, i.e. k step kc covers S tiles 4kc..4kc+3
      // as [t0 c0 c1, t1 c0 c1 | t2 c0 c1, t3 c0 c1] per row; V_t's keys were permuted to the same order when it was
      // quantized (quantize_per_token.cu: v_key_permutation), so no shuffle is needed.
      uint32_t p_frag[T::kPvChunks][4];
#pragma unroll
      for (int kc = 0; kc < T::kPvChunks; ++kc) {
        uint32_t code[4][4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
#pragma unroll
          for (int e = 0; e < 4; ++e) code[j][e] = round_to_low_byte(y[4 * kc + j][e] * p_encode[e >> 1]);
        }
        p_frag[kc][0] = pack_low_bytes(code[0][0], code[0][1], code[1][0], code[1][1]);
        p_frag[kc][1] = pack_low_bytes(code[0][2], code[0][3], code[1][2], code[1][3]);
        p_frag[kc][2] = pack_low_bytes(code[2][0], code[2][1], code[3][0], code[3][1]);
        p_frag[kc][3] = pack_low_bytes(code[2][2], code[2][3], code[3][2], code[3][3]);
      }
      // O += (P̂·V̂)·p_descale·v_scale, 16 channels at a time; the INT32 partial never outlives 8 channels.
#pragma unroll
      for (int dp = 0; dp < T::kOTiles / 2; ++dp) {
        uint32_t v_frag[T::kPvChunks][4];
#pragma unroll
        for (int kc = 0; kc < T::kPvChunks; ++kc) {
          ldmatrix_x4(v_frag[kc], v_smem + T::VTile::offset(16 * dp + lane % 8 + 8 * (lane / 16), 2 * kc + (lane / 8) % 2));
        }
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          int32_t pv_acc[4] = {0, 0, 0, 0};
#pragma unroll
          for (int kc = 0; kc < T::kPvChunks; ++kc) {
            mma_s8_16832(pv_acc, p_frag[kc], v_frag[kc][2 * half], v_frag[kc][2 * half + 1]);
          }
          const int t = 2 * dp + half;
          const int col = 8 * t + 2 * quad;
          const float v_descale[2] = {v_scale_smem[col], v_scale_smem[col + 1]};
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            o_acc[t][e] = fmaf(int_to_float_exact(pv_acc[e]) * v_descale[e & 1], p_descale[e >> 1], o_acc[t][e]);
          }
        }
      }
    } else {
      // P in fp16 as A fragments of m16n8k16: k step kc covers S tiles 2kc, 2kc + 1 (the layouts coincide).
      uint32_t p_frag[T::kPvChunks][4];
#pragma unroll
      for (int kc = 0; kc < T::kPvChunks; ++kc) {
        p_frag[kc][0] = pack_half2(y[2 * kc][0], y[2 * kc][1]);
        p_frag[kc][1] = pack_half2(y[2 * kc][2], y[2 * kc][3]);
        p_frag[kc][2] = pack_half2(y[2 * kc + 1][0], y[2 * kc + 1][1]);
        p_frag[kc][3] = pack_half2(y[2 * kc + 1][2], y[2 * kc + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < T::kOTiles / 2; ++dp) {
#pragma unroll
        for (int kc = 0; kc < T::kPvChunks; ++kc) {
          uint32_t v_frag[4];
          ldmatrix_x4(v_frag, v_smem + T::VTile::offset(16 * dp + lane % 8 + 8 * (lane / 16), 2 * kc + (lane / 8) % 2));
          mma_f16_16816(o_acc[2 * dp], p_frag[kc], v_frag[0], v_frag[1]);
          mma_f16_16816(o_acc[2 * dp + 1], p_frag[kc], v_frag[2], v_frag[3]);
        }
      }
    }
    // Hazard: the next iteration's cp.async overwrites the other stage, which every warp must be done reading.
    __syncthreads();
  }

  // Epilogue: O / l (+ V's channel mean when V was smoothed); rows that saw no key stay exactly 0.
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
    for (int t = 0; t < T::kOTiles; ++t) {
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

template <int kHeadDim, bool kPvFp16>
cudaError_t launch_attn_fwd_int8_sm80_impl(const FlashInt8Args& args, cudaStream_t stream) {
  using T = AttnFwdInt8Sm80Traits<kHeadDim, kPvFp16>;
  auto kernel = attn_fwd_int8_sm80_kernel<kHeadDim, kPvFp16>;
  cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes);
  if (status != cudaSuccess) return status;
  const dim3 grid((args.seq_q + T::kBlockM - 1) / T::kBlockM, args.heads, args.batch);
  kernel<<<grid, T::kThreads, T::kSmemBytes, stream>>>(args);
  return cudaGetLastError();
}

template <bool kPvFp16>
cudaError_t launch_attn_fwd_int8_sm80_pv(const FlashInt8Args& args, cudaStream_t stream) {
  switch (args.head_dim) {
    case 32: return launch_attn_fwd_int8_sm80_impl<32, kPvFp16>(args, stream);
    case 64: return launch_attn_fwd_int8_sm80_impl<64, kPvFp16>(args, stream);
    case 96: return launch_attn_fwd_int8_sm80_impl<96, kPvFp16>(args, stream);
    case 128: return launch_attn_fwd_int8_sm80_impl<128, kPvFp16>(args, stream);
    case 256: return launch_attn_fwd_int8_sm80_impl<256, kPvFp16>(args, stream);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t launch_attn_fwd_int8_sm80(const FlashInt8Args& args, cudaStream_t stream) {
  return args.pv_fp16 ? launch_attn_fwd_int8_sm80_pv<true>(args, stream)
                      : launch_attn_fwd_int8_sm80_pv<false>(args, stream);
}

}  // namespace qattn
