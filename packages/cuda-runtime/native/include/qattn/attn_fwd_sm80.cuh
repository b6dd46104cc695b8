// The INT8 attention forward on sm80+ tensor cores (mma.sync), FlashAttention-2 schedule: the skeleton both
// INT-FlashAttention (flash-int8) and FlashQ + SAS (turbo-attn) run, as a template on an attention Variant
// (attention_variant.cuh) whose hooks are the only place the two differ.
//
// One CTA owns kBlockM queries of one (batch, head); each warp owns 16 of those rows for the whole pass, so the online
// softmax never leaves registers. Per key tile of kBlockN keys:
//   S = Q̂·K̂ᵀ            INT8 x INT8 -> INT32, mma.m16n8k32 (Q fragments re-read from shared memory)
//   x = S·s_q·s_k·σ·log2e − m  fp32 ("x domain": base-2 logits minus the running max), masked to −inf where
//                          causal/tail; K scales per key (dequantized per column) or per key block (folded into the
//                          row factor: Variant::kKScaleLayout)
//   [skip]                 Variant::kSkipSparseTiles: if no score of the warp's rows can give a nonzero P, the warp
//                          skips the rest of the tile (warp-uniform vote; exact: see the vote below)
//   P = exp(x)             Variant::Exponent: exact exp2 or SAS; O and l rescaled by exp(m_old − m_new)
//   P̂ = rint(P·c/rowmax)  unsigned codes in [0, c], c = pCodeMax (255, or 127), 'rowmax' = max over each block of
//                          kKeyBlock keys; rint(P·c) for 'global'. Packed as u8 straight from the S accumulator
//                          (127 codes are the same bytes as s8, so one u8 x s8 kernel serves both)
//   O += Σ_blocks (P̂·V̂)·p_descale·v_scale   u8 x s8 -> INT32 per 8 channels and key block, dequantized into fp32
//                          O at once (V scales are per kKeyBlock keys and channel)
// The fp16 P·V mode keeps P in fp16 and runs P·V with mma.m16n8k16 into fp32 O directly.
// K/V tiles stream through a cp.async ring of kStages stages; fully masked key tiles (causal) are never loaded.
#pragma once

#include <atomic>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <cstdlib>

#include "qattn/attention_args.h"
#include "qattn/attention_variant.cuh"
#include "qattn/capabilities.h"
#include "qattn/kv_stage_loader_sm80.cuh"
#include "qattn/mma_sm80.cuh"
#include "qattn/smem_tile_sm80.cuh"
#include "qattn/tile_config.h"
#include "qattn/tile_softmax.cuh"

namespace qattn {

template <int HeadDim, PvPrecision Pv, int KeyBlock, int TileVariant>
struct AttnFwdSm80Traits {
  static constexpr int kHeadDim = HeadDim;
  static constexpr bool kPvFp16 = Pv == PvPrecision::kFp16;
  // Keys per P-rowmax block and per V scale block (the oracle's blockN): 32 or 64, a divisor of kBlockN.
  static constexpr int kKeyBlock = KeyBlock;
  static constexpr TileConfig kTile = tile_config_sm80(kHeadDim, TileVariant);
  static constexpr int kBlockM = kTile.block_m;
  static constexpr int kBlockN = kTile.block_n;
  static constexpr int kWarps = kTile.num_warps;
  static constexpr int kStages = kTile.stages;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kMinBlocksPerSm = kTile.min_blocks_per_sm;
  static constexpr int kVElemBytes = kPvFp16 ? 2 : 1;

  using QTile = SwizzledTile<kHeadDim>;                // [kBlockM, kHeadDim] s8
  using KTile = SwizzledTile<kHeadDim>;                // [kBlockN, kHeadDim] s8
  using VTile = SwizzledTile<kBlockN * kVElemBytes>;   // [kHeadDim, kBlockN] s8 (permuted keys) or f16: V transposed

  static constexpr int kQBytes = kBlockM * QTile::kStride;
  static constexpr int kKBytes = kBlockN * KTile::kStride;
  static constexpr int kVBytes = kHeadDim * VTile::kStride;
  static constexpr int kKScaleBytes = kBlockN * 8;     // [kBlockN, 2] fp32 dequantization pairs
  static constexpr int kKeyBlocks = kBlockN / kKeyBlock;         // key blocks per tile
  static constexpr int kVScaleBytes = kKeyBlocks * kHeadDim * 8;  // [kKeyBlocks, kHeadDim, 2] fp32 pairs
  // Stages start 256-byte aligned: step_address XORs address bits 5..7.
  static constexpr int kStageBytes = (kKBytes + kVBytes + kKScaleBytes + kVScaleBytes + 255) / 256 * 256;
  static constexpr int kSmemBytes = kQBytes + kStages * kStageBytes;

  static constexpr int kSTiles = kBlockN / 8;          // n8 tiles of S per warp
  static constexpr int kOTiles = kHeadDim / 8;         // n8 tiles of O per warp
  static constexpr int kQkChunks = kHeadDim / 32;      // k32 steps of Q·Kᵀ
  static constexpr int kPvChunks = kPvFp16 ? kBlockN / 16 : kBlockN / 32;  // k steps of P·V
  static constexpr int kChunksPerKeyBlock = kKeyBlock / 32;                  // k32 steps per key block (int8 P·V)

  static_assert(kBlockM == 16 * kWarps, "one warp per 16 query rows");
  static_assert((kKeyBlock == 32 || kKeyBlock == 64) && kBlockN % kKeyBlock == 0, "key blocks of 32 or 64 keys");
  static_assert(kHeadDim % 32 == 0 && kBlockN % 32 == 0, "k32 steps");
  static_assert(kStages == 2, "the loop below is written for a double buffer");
  static_assert(kQBytes % 256 == 0 && kKBytes % 256 == 0, "swizzled tiles need 256-byte aligned bases");
};

template <typename Variant, int kHeadDim, PvPrecision kPv, int kKeyBlock, int kTileVariant>
__global__ void __launch_bounds__(AttnFwdSm80Traits<kHeadDim, kPv, kKeyBlock, kTileVariant>::kThreads,
                                  AttnFwdSm80Traits<kHeadDim, kPv, kKeyBlock, kTileVariant>::kMinBlocksPerSm)
    attn_fwd_sm80_kernel(const AttentionArgs args) {
  using T = AttnFwdSm80Traits<kHeadDim, kPv, kKeyBlock, kTileVariant>;
  constexpr int kBlockM = T::kBlockM, kBlockN = T::kBlockN;
  constexpr bool kPvFp16 = T::kPvFp16;
  const typename Variant::Exponent exponent(args);
  extern __shared__ __align__(1024) uint8_t smem[];

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
  const float* k_scale_gmem = args.k_scale + bkv * args.seq_kv_pad * 2;                     // [seq_kv_pad, 2]
  const int64_t v_row_bytes = (int64_t)args.seq_kv_pad * T::kVElemBytes;
  const void* v_t_gmem = static_cast<const uint8_t*>(args.v_t) + bkv * kHeadDim * v_row_bytes;  // [D, seq_kv_pad]
  const float* v_scale_gmem = args.v_scale + bkv * (args.seq_kv_pad / kKeyBlock) * kHeadDim * 2;  // [blocks, D, 2]

  uint8_t* q_smem = smem;                 // [kBlockM, D] s8, swizzled
  uint8_t* stage_smem = smem + T::kQBytes;  // kStages x {K, V_t, k_scale, v_scale}

  TileCopyPlan<typename T::QTile, kBlockM, kHeadDim / 16, T::kThreads>(tid, kHeadDim)
      .copy(smem_u32(q_smem), reinterpret_cast<const uint8_t*>(q_gmem));
  const KvStageLoader<T> kv_loader(k_gmem, v_t_gmem, k_scale_gmem, v_scale_gmem, v_row_bytes, tid);
  kv_loader.load(stage_smem, 0);
  cp_async_commit();

  // Q scales of this thread's two rows, in the x domain (σ·log2e folded in). Padded rows have codes 0.
  const float q_scale_x[2] = {args.q_scale[bh * args.seq_q_pad + row0] * args.sm_scale_log2,
                              args.q_scale[bh * args.seq_q_pad + row0 + 8] * args.sm_scale_log2};

  // ldmatrix lane addresses (step 0, first 16 rows; see SwizzledTile::step_address). A fragments: rows lane % 16,
  // chunk lane / 16. B fragments (K rows, V_t rows): rows lane % 8 + 8·(lane / 16), chunk (lane / 8) % 2.
  const uint32_t q_lane = smem_u32(q_smem) + T::QTile::offset(warp * 16 + lane % 16, lane / 16);
  const int k_lane_offset = T::KTile::offset(lane % 8 + 8 * (lane / 16), (lane / 8) % 2);
  const int v_lane_offset = T::VTile::offset(lane % 8 + 8 * (lane / 16), (lane / 8) % 2);
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
    cp_async_wait<0>();  // this thread's copies of tile n_block (and, at n_block 0, of Q) have landed
    // One barrier per tile. It publishes every thread's copies of tile n_block, and it is also the end of every
    // warp's reads of the other stage (tile n_block − 1): the prefetch below overwrites that stage only after it.
    __syncthreads();
    if (n_block + 1 < n_blocks) {
      kv_loader.load(stage_smem + ((n_block + 1) % 2) * T::kStageBytes, n0 + kBlockN);
      cp_async_commit();
    }

    const uint32_t k_lane = smem_u32(cur_smem) + k_lane_offset;
    const uint32_t v_lane = smem_u32(cur_smem) + T::kKBytes + v_lane_offset;
    const float* k_scale_smem = reinterpret_cast<const float*>(cur_smem + T::kKBytes + T::kVBytes);  // [kBlockN, 2]
    const float* v_scale_smem = k_scale_smem + 2 * kBlockN;                              // [kKeyBlocks, D, 2]

    // S = Q̂·K̂ᵀ: [16, kBlockN] INT32 per warp, biased by kMagicBits (see dequantize_magic).
    int32_t s_acc[T::kSTiles][4];
#pragma unroll
    for (int t = 0; t < T::kSTiles; ++t) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s_acc[t][e] = kMagicBits;
    }
#pragma unroll
    for (int kc = 0; kc < T::kQkChunks; ++kc) {
      // Q's A fragments are re-read from shared memory every tile (4 ldmatrix at hd128) rather than held in
      // 4·D/32 registers for the whole pass: the registers are worth more to occupancy.
      uint32_t q_frag[4];
      ldmatrix_x4(q_frag, T::QTile::step_address(q_lane, kc, 0));
#pragma unroll
      for (int np = 0; np < T::kSTiles / 2; ++np) {
        uint32_t k_frag[4];  // B fragments of keys 16·np + [0, 8) and + [8, 16), k bytes 32·kc + [0, 32)
        ldmatrix_x4(k_frag, T::KTile::step_address(k_lane, kc, np));
        mma_s8_16832(s_acc[2 * np], q_frag, k_frag[0], k_frag[1]);
        mma_s8_16832(s_acc[2 * np + 1], q_frag, k_frag[2], k_frag[3]);
      }
    }

    // The tile's online softmax (tile_softmax.cuh): y from S, masks, block maxima and the logit map, then P.
    using Softmax = TileSoftmax<Variant, T::kSTiles, kKeyBlock>;
    float y[T::kSTiles][4];
    Softmax::scores_to_y(&s_acc[0][0], k_scale_smem, quad, y);
    if (n_block >= first_masked) Softmax::mask_y(y, args, n0, row0, quad, diag);  // uniform: tail and diagonal tiles
    Softmax softmax;
    softmax.reduce(y, q_scale_x, k_scale_smem);
    if constexpr (Variant::kSkipSparseTiles) {
      if (args.skip_sparse_tiles && !__any_sync(0xffffffffu, softmax.keeps_tile(exponent, m_run))) continue;
    }
    float alpha[2], x_bias[2][T::kKeyBlocks];
    softmax.exponentiate(exponent, y, m_run, l_run, alpha, x_bias);
    rescale_rows(o_acc, alpha);
    float p_descale[2][T::kKeyBlocks];  // fp32 value of one P code unit, per row and key block
    float p_encode[2][T::kKeyBlocks];   // P -> code factor, per row and key block
    if constexpr (!kPvFp16) softmax.p_code_scales(exponent, args, x_bias, p_encode, p_descale);

    if constexpr (!kPvFp16) {
      uint32_t p_frag[T::kPvChunks][4];  // P̂ as A fragments of m16n8k32 (tile_softmax.cuh)
      pack_p_codes(y, p_encode, p_frag);
      // O += Σ_b (P̂·V̂)_b·p_descale_b·v_scale_b, 16 channels at a time; an INT32 partial spans one key block and
      // 8 channels.
#pragma unroll
      for (int dp = 0; dp < T::kOTiles / 2; ++dp) {
        uint32_t v_frag[T::kPvChunks][4];
#pragma unroll
        for (int kc = 0; kc < T::kPvChunks; ++kc) {
          ldmatrix_x4(v_frag[kc], T::VTile::step_address(v_lane, kc, dp));
        }
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int t = 2 * dp + half;
          const int col = 8 * t + 2 * quad;
#pragma unroll
          for (int b = 0; b < T::kKeyBlocks; ++b) {
            int32_t pv_acc[4] = {kMagicBits, kMagicBits, kMagicBits, kMagicBits};
#pragma unroll
            for (int kc = b * T::kChunksPerKeyBlock; kc < (b + 1) * T::kChunksPerKeyBlock; ++kc) {
              mma_u8s8_16832(pv_acc, p_frag[kc], v_frag[kc][2 * half], v_frag[kc][2 * half + 1]);
            }
            const float4 v_pairs = *reinterpret_cast<const float4*>(v_scale_smem + 2 * (b * kHeadDim + col));
            const float v_descale[2] = {v_pairs.x, v_pairs.z};
            const float v_neg_magic[2] = {v_pairs.y, v_pairs.w};
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const float pv = dequantize_magic(pv_acc[e], v_descale[e & 1], v_neg_magic[e & 1]);
              o_acc[t][e] = fmaf(pv, p_descale[e >> 1][b], o_acc[t][e]);
            }
          }
        }
      }
    } else {
      uint32_t p_frag[T::kPvChunks][4];  // P in fp16 as A fragments of m16n8k16 (tile_softmax.cuh)
      pack_p_half(y, p_frag);
#pragma unroll
      for (int dp = 0; dp < T::kOTiles / 2; ++dp) {
#pragma unroll
        for (int kc = 0; kc < T::kPvChunks; ++kc) {
          uint32_t v_frag[4];
          ldmatrix_x4(v_frag, T::VTile::step_address(v_lane, kc, dp));
          mma_f16_16816(o_acc[2 * dp], p_frag[kc], v_frag[0], v_frag[1]);
          mma_f16_16816(o_acc[2 * dp + 1], p_frag[kc], v_frag[2], v_frag[3]);
        }
      }
    }
  }

  store_rows<kHeadDim>(o_acc, l_run, args, out_rows, row0, quad, bkv);
}

template <typename Variant, int kHeadDim, PvPrecision kPv, int kKeyBlock, int kTileVariant>
cudaError_t launch_attn_fwd_sm80_tile(const AttentionArgs& args, cudaStream_t stream) {
  using T = AttnFwdSm80Traits<kHeadDim, kPv, kKeyBlock, kTileVariant>;
  auto kernel = attn_fwd_sm80_kernel<Variant, kHeadDim, kPv, kKeyBlock, kTileVariant>;
  // Once per kernel: a driver call on every launch is host time the tiny shapes pay in full (the runtime drives one
  // device, so the attribute set on the first launch holds for every later one).
  static std::atomic<bool> smem_configured{false};
  if (!smem_configured.load(std::memory_order_acquire)) {
    const cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes);
    if (status != cudaSuccess) return status;
    smem_configured.store(true, std::memory_order_release);
  }
  const dim3 grid((args.seq_q + T::kBlockM - 1) / T::kBlockM, args.heads, args.batch);
  kernel<<<grid, T::kThreads, T::kSmemBytes, stream>>>(args);
  return cudaGetLastError();
}

// QATTN_TILE_EXPERIMENTS builds compile every alternative of tile_config.h for hd64/hd128 and pick one with the
// environment variable QATTN_TILE_VARIANT (the measurements in tile_config.h came from such a build).
template <typename Variant, int kHeadDim, PvPrecision kPv, int kKeyBlock>
cudaError_t launch_attn_fwd_sm80_impl(const AttentionArgs& args, cudaStream_t stream) {
#ifdef QATTN_TILE_EXPERIMENTS
  if constexpr (kHeadDim == 64 || kHeadDim == 128) {
    const char* variant = getenv("QATTN_TILE_VARIANT");
    switch (variant ? atoi(variant) : 0) {
      case 1: return launch_attn_fwd_sm80_tile<Variant, kHeadDim, kPv, kKeyBlock, 1>(args, stream);
      case 2: return launch_attn_fwd_sm80_tile<Variant, kHeadDim, kPv, kKeyBlock, 2>(args, stream);
      case 3: return launch_attn_fwd_sm80_tile<Variant, kHeadDim, kPv, kKeyBlock, 3>(args, stream);
      case 4: return launch_attn_fwd_sm80_tile<Variant, kHeadDim, kPv, kKeyBlock, 4>(args, stream);
      case 5: return launch_attn_fwd_sm80_tile<Variant, kHeadDim, kPv, kKeyBlock, 5>(args, stream);
      default: break;
    }
  }
#endif
  return launch_attn_fwd_sm80_tile<Variant, kHeadDim, kPv, kKeyBlock, 0>(args, stream);
}

// Head dims: the package's list in capabilities.json (qattn/capabilities.h, generated at configure time), so only
// the kernels a package offers are compiled.
template <typename Variant, PvPrecision kPv, int kKeyBlock>
cudaError_t launch_attn_fwd_sm80_dim(const AttentionArgs& args, cudaStream_t stream) {
  switch (args.head_dim) {
#define QATTN_ATTN_HEAD_DIM_CASE(dim) \
  case dim: return launch_attn_fwd_sm80_impl<Variant, dim, kPv, kKeyBlock>(args, stream);
    QATTN_FOR_EACH_HEAD_DIM(QATTN_ATTN_HEAD_DIM_CASE)
#undef QATTN_ATTN_HEAD_DIM_CASE
    default: return cudaErrorInvalidValue;
  }
}

// The sm80 attention kernel of one variant and P·V precision, for the call's head dim and key block. fp16 P·V has
// no key blocks (P unquantized, V fp16): it is compiled once, as key block 64.
template <typename Variant, PvPrecision kPv>
cudaError_t launch_attn_fwd_sm80(const AttentionArgs& args, cudaStream_t stream) {
  if constexpr (kPv == PvPrecision::kFp16) {
    return launch_attn_fwd_sm80_dim<Variant, kPv, 64>(args, stream);
  } else {
    switch (args.key_block) {
#define QATTN_ATTN_KEY_BLOCK_CASE(keys) \
  case keys: return launch_attn_fwd_sm80_dim<Variant, kPv, keys>(args, stream);
      QATTN_FOR_EACH_KEY_BLOCK(QATTN_ATTN_KEY_BLOCK_CASE)
#undef QATTN_ATTN_KEY_BLOCK_CASE
      default: return cudaErrorInvalidValue;
    }
  }
}

}  // namespace qattn
