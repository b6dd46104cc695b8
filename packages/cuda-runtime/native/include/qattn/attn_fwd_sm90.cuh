// The INT8 attention forward on Hopper (sm_90a): the math of attn_fwd_sm80.cuh (same quantized inputs, x-domain
// online softmax, P codes, magic-number dequantization, Variant hooks), on wgmma with a TMA producer. INT8 P·V (key
// blocks 32 and 64) or fp16 P·V (pv 'fp16': P in half2 pairs, V_t fp16, wgmma f16 accumulating into O itself), head
// dims 64 and 128; tile shape from tile_config_sm90.
//
// CTA = 3 warpgroups, one (batch, head) and kBlockM = 128 queries (FlashAttention-3's shape):
//   warpgroup 0, producer   setmaxnreg down to 40; one thread issues every load: Q once (TMA), then per key tile
//                           K [kBlockN, D] and V_t [D, kBlockN] (TMA, swizzled) and their scales (1-D bulk copies)
//                           into a ring of kStages stages, each completing on the stage's "full" mbarrier
//                           (transaction bytes)
//   warpgroups 1, 2,        setmaxnreg up to 232; consumer c owns query rows 64c..64c+63 for the whole pass (O, m, l in
//   consumers               registers) and walks every key tile of the CTA:
//     S = Q̂·K̂ᵀ     wgmma m64nNk32 s8·s8 → s32 (N = kBlockN: 64, or 128 for fp16 P·V), Q and K both from shared
//                   memory (K-major: rows contiguous in D, as quantized), D/32 instructions, accumulators starting at
//                   kMagicBits
//     softmax       as the sm80 kernel, per thread on the same (row, column) pairs: the wgmma accumulator fragment of a
//                   warp is the mma.sync m16n8 fragment of its 16 rows (mma_sm90.cuh), so every line of that code
//                   carries over with warp w of consumer c in place of sm80's warp
//     P̂·V̂          wgmma m64nDk32 u8·s8 → s32 with A = the P codes from registers and B = V_t from shared memory
//                   (K-major: keys contiguous, which is why V is stored transposed), one INT32 accumulator per key
//                   block, dequantized into O as on sm80
//   then one arrival per consumer thread on the stage's "empty" mbarrier hands the stage back to the producer.
//
// The P repack. The register A fragment of a k32 8-bit wgmma holds, per thread, K bytes 4q..4q+3 and 16+4q..16+4q+3 of
// rows g and g+8 (q = lane % 4, g = lane / 4); the S accumulator holds columns 8t+2q, 8t+2q+1 of the same rows for
// every n8 tile t. Packing the codes of tiles 4kc..4kc+3 in accumulator order, [t0 c0 c1, t1 c0 c1 | t2 c0 c1, t3 c0
// c1] per row, puts key 8·(i/2) + 2q + i%2 (+16) at K position 4q + i (+16): V_t's keys were permuted to exactly
// that order when it was quantized (quantize_qkv.cuh, v_key_position), so the repack is byte packing only, no shuffle
// — the sm80 kernel's packing, because the fragments coincide.
//
// Shared memory: the tiles TMA writes with the 64- or 128-byte swizzle equal to their row length (K and Q rows are D
// bytes, V_t rows 64 INT8 keys = 64 bytes or 64 fp16 keys = 128 bytes per subtile) and the wgmma descriptors of
// mma_sm90.cuh describe (every tile base is aligned to 1024 bytes, the longest swizzle period).
//
// Pipeline: full[s] (1 arrival + transaction bytes) and empty[s] (256 arrivals) per stage s; a tile j uses stage
// j % kStages for the (j / kStages)-th time, so both sides wait for phase parity (j / kStages) & 1 (the producer for
// the previous use's release: a fresh barrier passes parity 1 at once). Every consumer thread arrives on empty[s] after
// its last read of the stage (the wgmma reads are complete at wgmma.wait_group; the scale reads are ordinary loads),
// also for tiles it skips, so both consumers release every tile exactly once.
//
// Consumer schedules (tile_config.h, picked per process by QATTN_SM90_SCHEDULE, arch_path.h): kSerial waits for each
// wgmma group at once; kOverlap issues P·V of tile j − 1 together with Q·Kᵀ of tile j and runs the softmax of tile j
// while P·V(j − 1) is on the tensor cores (its stage is released one tile later, so the ring needs ≥ 2 stages);
// kPingPong adds FlashAttention-3's hand-off between the two consumers (named barriers 3 and 4: consumer c waits for
// its turn before issuing its wgmmas and gives the turn to the other right after), so one consumer's softmax runs
// while the other's GEMMs do. The arithmetic on every register is the same in all three (attn_fwd_sm90_consume).
// Not done yet, each a step to measure against these: O staged through shared memory for a TMA store, block_n 128
// (tile_config.h says why not yet).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "qattn/attention_args.h"
#include "qattn/attention_variant.cuh"
#include "qattn/capabilities.h"
#include "qattn/mma_sm80.cuh"
#include "qattn/mma_sm90.cuh"
#include "qattn/tile_config.h"
#include "qattn/tile_softmax.cuh"

namespace qattn {

template <int HeadDim, PvPrecision Pv, int KeyBlock, Sm90Schedule Schedule, int TileVariant = 0>
struct AttnFwdSm90Traits {
  static constexpr int kHeadDim = HeadDim;
  // P·V precision: INT8 P codes x INT8 V with one INT32 accumulator per key block, dequantized into O (the papers'
  // method), or fp16 P x fp16 V accumulating straight into O's fp32 registers (INT-FA's "half" variant, pv 'fp16').
  static constexpr bool kPvFp16 = Pv == PvPrecision::kFp16;
  // Keys per P-rowmax block and per V scale block (the oracle's blockN): 32 or 64, a divisor of kBlockN.
  static constexpr int kKeyBlock = KeyBlock;
  static constexpr TileConfigSm90 kTile = tile_config_sm90(kHeadDim, kKeyBlock, kPvFp16, Schedule, TileVariant);
  static constexpr Sm90Schedule kSchedule = kTile.schedule;  // Schedule where it fits in registers, else kSerial
  static constexpr int kBlockM = kTile.block_m;
  static constexpr int kBlockN = kTile.block_n;
  static constexpr int kStages = kTile.stages;
  static constexpr int kConsumers = kTile.consumer_warpgroups;
  static constexpr int kConsumerThreads = 128 * kConsumers;
  static constexpr int kThreads = 128 + kConsumerThreads;

  // Shared memory, every tile 1024-byte aligned: Q [kBlockM, D], then kStages x {K [kBlockN, D], V_t [D, kBlockN],
  // k_scale [kBlockN, 2] fp32, v_scale [kKeyBlocks, D, 2] fp32 (INT8 P·V only)}, then the mbarriers.
  static constexpr int kQBytes = kBlockM * kHeadDim;
  static constexpr int kKBytes = kBlockN * kHeadDim;
  static constexpr int kVRowBytes = kBlockN * (kPvFp16 ? 2 : 1);  // one channel's keys of the tile in V_t
  static constexpr int kVBytes = kHeadDim * kVRowBytes;
  // V_t arrives in subtiles of 128-byte rows (the widest swizzle): [D, 64 keys] fp16 each, two per 128-key fp16 tile.
  static constexpr int kVSubtileRowBytes = kVRowBytes < 128 ? kVRowBytes : 128;
  static constexpr int kVSubtiles = kVRowBytes / kVSubtileRowBytes;
  static constexpr int kVSubtileBytes = kHeadDim * kVSubtileRowBytes;
  static constexpr int kPvChunksPerSubtile = kVSubtileRowBytes / 32;  // a P·V wgmma reads 32 bytes of each V_t row
  static constexpr int kKScaleBytes = kBlockN * 8;
  static constexpr int kKeyBlocks = kPvFp16 ? 1 : kBlockN / kKeyBlock;
  // Keys per block of the tile softmax: the P-rowmax block for INT8 P·V, the whole tile for fp16 (one max per tile).
  static constexpr int kSoftmaxBlock = kPvFp16 ? kBlockN : kKeyBlock;
  static constexpr int kVScaleBytes = kPvFp16 ? 0 : kKeyBlocks * kHeadDim * 8;
  static constexpr int kStageTxBytes = kKBytes + kVBytes + kKScaleBytes + kVScaleBytes;  // bytes TMA brings per tile
  static constexpr int kStageBytes = (kStageTxBytes + 1023) / 1024 * 1024;
  static constexpr int kVOffset = kKBytes;  // inside a stage
  static constexpr int kKScaleOffset = kKBytes + kVBytes;
  static constexpr int kVScaleOffset = kKScaleOffset + kKScaleBytes;
  static constexpr int kStagesOffset = kQBytes;
  static constexpr int kBarriersOffset = kStagesOffset + kStages * kStageBytes;  // full[kStages], empty[kStages], q
  static constexpr int kBarrierBytes = (2 * kStages + 1) * 8;
  // + 1024: the dynamic shared memory base is rounded up to 1024 bytes inside the kernel.
  static constexpr int kSmemBytes = kBarriersOffset + kBarrierBytes + 1024;

  static constexpr int kSTiles = kBlockN / 8;        // n8 tiles of S per thread's rows
  static constexpr int kOTiles = kHeadDim / 8;       // n8 tiles of O
  static constexpr int kQkChunks = kHeadDim / 32;    // k32 wgmmas of Q·Kᵀ
  static constexpr int kPvK = kPvFp16 ? 16 : 32;     // keys per P·V wgmma (k16 f16, k32 8-bit)
  static constexpr int kPvChunks = kBlockN / kPvK;   // P·V wgmmas per tile
  static constexpr int kChunksPerKeyBlock = kPvChunks / kKeyBlocks;

  static_assert(kBlockM == 64 * kConsumers, "one consumer warpgroup per 64 query rows (wgmma m64)");
  static_assert(kSeqQPad % kBlockM == 0, "a Q tile never crosses the padded rows of its head");
  // A 128-key tile may reach 64 keys past the padded keys of its head: K rows of the next head or TMA's zero fill,
  // always masked (key ≥ seq_kv), V_t columns past the row (zero fill), and the K scales are copied only up to
  // seq_kv_pad (the producer's k_scale_bytes), so no read leaves the workspace.
  static_assert(kSeqKVPad % 64 == 0 && (kBlockN == 64 || kBlockN == 128), "64- or 128-key tiles");
  static_assert(kBlockN == 64 || kPvFp16, "INT8 P·V holds one accumulator per key block: 64-key tiles only");
  static_assert(kHeadDim == 64 || kHeadDim == 128, "K and Q rows of 64 or 128 bytes (one swizzle row)");
  static_assert((kKeyBlock == 32 || kKeyBlock == 64) && kBlockN % kKeyBlock == 0, "key blocks of 32 or 64 keys");
  static_assert(kQBytes % 1024 == 0 && kKBytes % 1024 == 0 && kVBytes % 1024 == 0, "1024-aligned tiles");
  static_assert(kSmemBytes <= 227 * 1024, "Hopper's shared memory per block");
};

// The kernel's parameter block: the call's arguments and the TMA descriptors of its Q, K and V_t (built on the host
// for each launch, since the workspace addresses change between calls).
struct AttnFwdSm90Params {
  AttentionArgs args;
  CUtensorMap q_map;  // q_int8 as [batch·heads·seq_q_pad, D] bytes, box [kBlockM, D]
  CUtensorMap k_map;  // k_int8 as [batch·kv_heads·seq_kv_pad, D] bytes, box [kBlockN, D]
  CUtensorMap v_map;  // v_t as [batch·kv_heads·D, seq_kv_pad · element bytes] bytes, box [D, kVRowBytes]
};

#ifdef QATTN_SM90A_DEVICE_CODE

// The shared-memory addresses of one CTA (32-bit shared window) and its generic base.
template <typename T>
struct AttnFwdSm90Smem {
  uint8_t* base;  // 1024-byte aligned
  uint32_t addr;  // smem_u32(base)
  __device__ __forceinline__ uint32_t q() const { return addr; }
  __device__ __forceinline__ uint32_t stage(int s) const { return addr + T::kStagesOffset + s * T::kStageBytes; }
  __device__ __forceinline__ const uint8_t* stage_ptr(int s) const {
    return base + T::kStagesOffset + s * T::kStageBytes;
  }
  __device__ __forceinline__ uint32_t full(int s) const { return addr + T::kBarriersOffset + 8 * s; }
  __device__ __forceinline__ uint32_t empty(int s) const { return addr + T::kBarriersOffset + 8 * (T::kStages + s); }
  __device__ __forceinline__ uint32_t q_full() const { return addr + T::kBarriersOffset + 16 * T::kStages; }
};

// The producer: one thread. Q once, then every key tile of the CTA into the ring.
template <typename T>
__device__ __forceinline__ void attn_fwd_sm90_produce(const AttnFwdSm90Params& params, const AttnFwdSm90Smem<T>& smem,
                                                      int m0, int n_blocks, int64_t bh, int64_t bkv) {
  const AttentionArgs& args = params.args;
  mbarrier_arrive_expect_tx(smem.q_full(), T::kQBytes);
  tma_load_2d(smem.q(), &params.q_map, 0, static_cast<int>(bh * args.seq_q_pad + m0), smem.q_full());
  const float* k_scale = args.k_scale + bkv * args.seq_kv_pad * 2;                                // [seq_kv_pad, 2]
  const float* v_scale = args.v_scale + bkv * (args.seq_kv_pad / T::kKeyBlock) * T::kHeadDim * 2;  // [blocks, D, 2]
  const int k_row0 = static_cast<int>(bkv * args.seq_kv_pad);
  const int v_row0 = static_cast<int>(bkv * T::kHeadDim);
  for (int n_block = 0; n_block < n_blocks; ++n_block) {
    const int s = n_block % T::kStages;
    const uint32_t use_parity = (n_block / T::kStages) & 1;
    mbarrier_wait(smem.empty(s), use_parity ^ 1);  // the consumers released the stage's previous tile
    const int n0 = n_block * T::kBlockN;
    const uint32_t stage = smem.stage(s);
    // TMA counts a box's zero-filled bytes too, so only the K scale copy shrinks at the padded end.
    const uint32_t k_scale_bytes = min(T::kKScaleBytes, (args.seq_kv_pad - n0) * 8);
    mbarrier_arrive_expect_tx(smem.full(s), T::kStageTxBytes - T::kKScaleBytes + k_scale_bytes);
    tma_load_2d(stage, &params.k_map, 0, k_row0 + n0, smem.full(s));
#pragma unroll
    for (int v = 0; v < T::kVSubtiles; ++v) {
      tma_load_2d(stage + T::kVOffset + v * T::kVSubtileBytes, &params.v_map,
                  (n0 * T::kVRowBytes) / T::kBlockN + v * T::kVSubtileRowBytes, v_row0, smem.full(s));
    }
    bulk_load(stage + T::kKScaleOffset, k_scale + 2 * n0, k_scale_bytes, smem.full(s));
    // The tile's key blocks are consecutive rows of v_scale.
    if constexpr (!T::kPvFp16) {
      bulk_load(stage + T::kVScaleOffset, v_scale + (n0 / T::kKeyBlock) * T::kHeadDim * 2, T::kVScaleBytes, smem.full(s));
    }
  }
}

// Named barriers of the consumers (bar 0 is __syncthreads): 1 + c for consumer c's sparse-tile vote, 3 + c for the
// ping-pong schedule's "consumer c may issue its wgmmas" (both consumers take part: c syncs, the other arrives).
constexpr int kVoteBarrier = 1;
constexpr int kIssueBarrier = 3;

// Q·Kᵀ of one tile, issued (not committed): S = Q̂·K̂ᵀ, [64, kBlockN] INT32 per warpgroup, biased by kMagicBits (see
// dequantize_magic); s_acc[4t + e] is the sm80 kernel's s_acc[t][e]. The caller fences before and commits after.
template <typename T>
__device__ __forceinline__ void issue_qk(int32_t (&s_acc)[4 * T::kSTiles], uint64_t q_desc, uint32_t stage) {
  const uint64_t k_desc = kmajor_desc<T::kHeadDim>(stage);
#pragma unroll
  for (int kc = 0; kc < T::kQkChunks; ++kc) {
    wgmma_m64nk32_s8s8_ss<T::kBlockN>(s_acc, desc_k_step(q_desc, kc), desc_k_step(k_desc, kc));
  }
}

// P̂·V̂ of key block b of one tile, issued (not committed): one INT32 accumulator [64, D] for all D channels.
template <typename T>
__device__ __forceinline__ void issue_pv(int32_t (&pv_acc)[4 * T::kOTiles], const uint32_t (&p_frag)[T::kPvChunks][4],
                                         uint32_t stage, int b) {
  const uint64_t v_desc = kmajor_desc<T::kVRowBytes>(stage + T::kVOffset);
#pragma unroll
  for (int kc = b * T::kChunksPerKeyBlock; kc < (b + 1) * T::kChunksPerKeyBlock; ++kc) {
    wgmma_m64nk32_u8s8_rs<T::kHeadDim>(pv_acc, p_frag[kc], desc_k_step(v_desc, kc));
  }
}

// fp16 P·V of one tile, issued (not committed): O += P·V with P's half2 fragments from registers and V_t (fp16, K-major:
// 64 keys = one 128-byte swizzle row per channel) from shared memory, accumulating into O's registers: no INT32
// partial, no per-tile dequantization (the CUDA-core work that bounds the INT8 P·V kernel).
template <typename T>
__device__ __forceinline__ void issue_pv_fp16(float (&o_acc)[T::kOTiles][4], const uint32_t (&p_frag)[T::kPvChunks][4],
                                              uint32_t stage) {
  float(&o)[4 * T::kOTiles] = reinterpret_cast<float(&)[4 * T::kOTiles]>(o_acc);  // d[4t + e] is o_acc[t][e]
#pragma unroll
  for (int kc = 0; kc < T::kPvChunks; ++kc) {
    const int v = kc / T::kPvChunksPerSubtile;  // 64 keys per V_t subtile
    const uint64_t v_desc = kmajor_desc<T::kVSubtileRowBytes>(stage + T::kVOffset + v * T::kVSubtileBytes);
    wgmma_m64nk16_f16_rs<T::kHeadDim>(o, p_frag[kc], desc_k_step(v_desc, kc % T::kPvChunksPerSubtile));
  }
}

template <typename Word, int kCount>
__device__ __forceinline__ void fill_registers(Word (&registers)[kCount], Word value) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) registers[i] = value;
  pin_registers(registers);
}

// O += (P̂·V̂)_b·p_descale_b·v_scale_b, from the completed accumulator of key block b (v_scale_smem: the tile's
// [blocks, D, 2] dequantization pairs).
template <typename T>
__device__ __forceinline__ void accumulate_pv(float (&o_acc)[T::kOTiles][4], int32_t (&pv_acc)[4 * T::kOTiles],
                                              const float* v_scale_smem, const float (&p_descale)[2][T::kKeyBlocks],
                                              int b, int quad) {
  pin_registers(pv_acc);
#pragma unroll
  for (int t = 0; t < T::kOTiles; ++t) {
    const int col = 8 * t + 2 * quad;
    const float4 v_pairs = *reinterpret_cast<const float4*>(v_scale_smem + 2 * (b * T::kHeadDim + col));
    const float v_descale[2] = {v_pairs.x, v_pairs.z};
    const float v_neg_magic[2] = {v_pairs.y, v_pairs.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float pv = dequantize_magic(pv_acc[4 * t + e], v_descale[e & 1], v_neg_magic[e & 1]);
      o_acc[t][e] = fmaf(pv, p_descale[e >> 1][b], o_acc[t][e]);
    }
  }
}

// The P·V half of a consumer by precision, so one loop serves both: prepare (before wgmma_fence), issue, finish (after
// the group's wgmma_wait). INT8 keeps one INT32 accumulator per key block of the tile in flight and adds it into O once
// complete; fp16 accumulates into O itself, so finishing is only pinning O's reads after the wait.
template <typename T, bool kFp16 = T::kPvFp16>
struct PvPipe;

template <typename T>
struct PvPipe<T, false> {
  int32_t acc[T::kKeyBlocks][4 * T::kOTiles];
  __device__ __forceinline__ void prepare(float (&)[T::kOTiles][4], uint32_t (&p_frag)[T::kPvChunks][4]) {
#pragma unroll
    for (int b = 0; b < T::kKeyBlocks; ++b) fill_registers(acc[b], kMagicBits);
    pin_registers(p_frag);
  }
  __device__ __forceinline__ void issue(float (&)[T::kOTiles][4], const uint32_t (&p_frag)[T::kPvChunks][4],
                                        uint32_t stage) {
#pragma unroll
    for (int b = 0; b < T::kKeyBlocks; ++b) issue_pv<T>(acc[b], p_frag, stage, b);
  }
  __device__ __forceinline__ void finish(float (&o_acc)[T::kOTiles][4], const float* v_scales,
                                         const float (&p_descale)[2][T::kKeyBlocks], int quad) {
#pragma unroll
    for (int b = 0; b < T::kKeyBlocks; ++b) accumulate_pv<T>(o_acc, acc[b], v_scales, p_descale, b, quad);
  }
};

template <typename T>
struct PvPipe<T, true> {
  __device__ __forceinline__ void prepare(float (&o_acc)[T::kOTiles][4], uint32_t (&p_frag)[T::kPvChunks][4]) {
    pin_registers(o_acc);
    pin_registers(p_frag);
  }
  __device__ __forceinline__ void issue(float (&o_acc)[T::kOTiles][4], const uint32_t (&p_frag)[T::kPvChunks][4],
                                        uint32_t stage) {
    issue_pv_fp16<T>(o_acc, p_frag, stage);
  }
  __device__ __forceinline__ void finish(float (&o_acc)[T::kOTiles][4], const float*, const float (&)[2][T::kKeyBlocks],
                                         int) {
    pin_registers(o_acc);
  }
};

// The tile's P as the A fragments of its P·V: INT8 codes (pack_p_codes) or fp16 pairs (pack_p_half).
template <typename T>
__device__ __forceinline__ void pack_p(const float (&y)[T::kSTiles][4], const float (&p_encode)[2][T::kKeyBlocks],
                                       uint32_t (&p_frag)[T::kPvChunks][4]) {
  if constexpr (T::kPvFp16) {
    pack_p_half(y, p_frag);
  } else {
    pack_p_codes(y, p_encode, p_frag);
  }
}

// One consumer warpgroup's view of the CTA: its rows, Q scales and descriptor, and the running O, m and l.
template <typename Variant, typename T>
struct Sm90Consumer {
  using Softmax = TileSoftmax<Variant, T::kSTiles, T::kSoftmaxBlock, T::kTile.rescale_threshold>;
  static constexpr int kKeyBlocks = T::kKeyBlocks;

  const AttentionArgs& args;
  const AttnFwdSm90Smem<T>& smem;
  const typename Variant::Exponent exponent;
  int consumer;      // 0 or 1: query rows 64·consumer + [0, 64) of the CTA's tile
  int quad;          // accumulator column pair 2·quad, 2·quad + 1 inside each n8 tile
  int row0;          // this thread's rows: row0 and row0 + 8
  int diag;          // causal: query i sees keys j <= i + diag (bottom-right aligned)
  int first_masked;  // key tiles from here on need the element mask (tail, diagonal)
  float q_scale_x[2];  // Q scales of the two rows in the x domain (σ·log2e folded in); padded rows have codes 0
  uint64_t q_desc;
  float o_acc[T::kOTiles][4];  // [64, D] fp32 per warpgroup: rows (group, group + 8), cols 8·t + 2·quad + {0,1}
  float m_run[2] = {-INFINITY, -INFINITY};  // running row max, x domain
  float l_run[2] = {0.f, 0.f};              // running row sum of P, this thread's columns (quad-reduced at the end)

  __device__ __forceinline__ Sm90Consumer(const AttentionArgs& args_, const AttnFwdSm90Smem<T>& smem_, int consumer_,
                                          int m0, int first_masked_, int64_t bh)
      : args(args_), smem(smem_), exponent(args_), consumer(consumer_), first_masked(first_masked_) {
    const int tid = threadIdx.x % 128;  // thread of this warpgroup
    const int warp = tid / 32, lane = tid % 32;
    quad = lane % 4;
    row0 = m0 + 64 * consumer + 16 * warp + lane / 4;
    diag = args.seq_kv - args.seq_q;
    q_scale_x[0] = args.q_scale[bh * args.seq_q_pad + row0] * args.sm_scale_log2;
    q_scale_x[1] = args.q_scale[bh * args.seq_q_pad + row0 + 8] * args.sm_scale_log2;
    q_desc = kmajor_desc<T::kHeadDim>(smem.q() + 64 * consumer * T::kHeadDim);
#pragma unroll
    for (int t = 0; t < T::kOTiles; ++t) {
#pragma unroll
      for (int e = 0; e < 4; ++e) o_acc[t][e] = 0.f;
    }
  }

  __device__ __forceinline__ const float* v_scales(int s) const {  // the stage's [blocks, D, 2] V dequantization pairs
    return reinterpret_cast<const float*>(smem.stage_ptr(s) + T::kVScaleOffset);
  }

  // The online softmax of tile n_block (stage s) from its finished S accumulator, shared with the sm80 kernel
  // (tile_softmax.cuh: per warp, the wgmma accumulator is the mma.sync m16n8 fragment of its 16 rows): m and l
  // updated, alpha (O's factor), P in y, and per row and key block the P → code factor and one code unit's fp32
  // value. Returns whether the warpgroup skips the tile (SAS's sparse tile; exact: it would have left m and l
  // unchanged and added exactly 0 to O); then alpha = 1 and P, the factors and p_descale are 0, so a P·V issued
  // anyway adds exactly 0. The codes are packed apart (pack_p_codes), where no wgmma reads the registers they go to.
  __device__ __forceinline__ bool softmax(int32_t (&s_acc)[4 * T::kSTiles], int n_block, int s, float (&alpha)[2],
                                          float (&y)[T::kSTiles][4], float (&p_encode)[2][kKeyBlocks],
                                          float (&p_descale)[2][kKeyBlocks]) {
    const float* k_scale_smem = reinterpret_cast<const float*>(smem.stage_ptr(s) + T::kKScaleOffset);  // [kBlockN, 2]
    Softmax::scores_to_y(s_acc, k_scale_smem, quad, y);
    if (n_block >= first_masked) Softmax::mask_y(y, args, n_block * T::kBlockN, row0, quad, diag);
    Softmax tile;
    tile.reduce(y, q_scale_x, k_scale_smem);
    // The skip is voted over the warpgroup (the sm80 kernel votes per warp; wgmma needs the whole warpgroup on one path).
    bool skip = false;
    if constexpr (Variant::kSkipSparseTiles) {
      const bool kept = tile.keeps_tile(exponent, m_run);
      if (args.skip_sparse_tiles) skip = !warpgroup_any(kept, kVoteBarrier + consumer);
    }
    if (!skip) {
      float x_bias[2][kKeyBlocks];
      tile.exponentiate(exponent, y, m_run, l_run, alpha, x_bias);
      if constexpr (!T::kPvFp16) tile.p_code_scales(exponent, args, x_bias, p_encode, p_descale);
    } else {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        alpha[r] = 1.f;
#pragma unroll
        for (int b = 0; b < kKeyBlocks; ++b) p_encode[r][b] = p_descale[r][b] = 0.f;
      }
#pragma unroll
      for (int t = 0; t < T::kSTiles; ++t) {
#pragma unroll
        for (int e = 0; e < 4; ++e) y[t][e] = 0.f;  // not −∞ of the mask: −∞·0 would make a NaN code
      }
    }
    return skip;
  }
};

// A consumer warpgroup: query rows m0 + 64·consumer + [0, 64) against every key tile of the CTA, in the order of
// T::kSchedule (tile_config.h). Every schedule applies the same operations to O in the same order — … O·α(j),
// O += P·V(j), O·α(j+1) … — so their outputs are bit-identical; under kOverlap/kPingPong, P·V(j − 1) is issued with
// Q·Kᵀ(j) and added to O after the softmax of tile j computed α(j) and before O·α(j) is applied, which is that order.
//
// The overlapped loop is straight-line around its wgmmas: tile 0's Q·Kᵀ is peeled off before the loop and the last
// tile's P·V after it, so every iteration issues exactly one Q·Kᵀ and one P·V group and waits for them in order
// (wait_group 1, then 0), and the P codes of tile j are packed only after P·V(j − 1), which reads the previous codes,
// completed (as FlashAttention-3 converts P after its wait). A wgmma issued or waited on a runtime branch, a barrier
// on a per-consumer branch, or a register a wgmma in flight reads or writes defined by other code, makes ptxas
// serialize the wgmmas (C7513/C7515/C7518, with injected waits): the overlap would be lost without an error.
// The price: a sparse tile's P·V still runs (with codes 0, adding exactly 0) — only its exponentials are saved.
template <typename Variant, typename T>
__device__ __forceinline__ void attn_fwd_sm90_consume(const AttentionArgs& args, const AttnFwdSm90Smem<T>& smem,
                                                      int consumer, int m0, int n_blocks, int first_masked,
                                                      int64_t bh, int64_t bkv) {
  constexpr int kKeyBlocks = T::kKeyBlocks;
  Sm90Consumer<Variant, T> c(args, smem, consumer, m0, first_masked, bh);
  float alpha[2];
  float y[T::kSTiles][4];          // P of the tile
  float p_encode[2][kKeyBlocks];   // P -> code factor, per row and key block
  float p_descale[2][kKeyBlocks];  // fp32 value of one P code unit, per row and key block
  int32_t s_acc[4 * T::kSTiles];
  mbarrier_wait(smem.q_full(), 0);

  if constexpr (T::kSchedule == Sm90Schedule::kSerial) {
    int32_t pv_acc[4 * T::kOTiles];
    for (int n_block = 0; n_block < n_blocks; ++n_block) {
      const int s = n_block % T::kStages;
      mbarrier_wait(smem.full(s), (n_block / T::kStages) & 1);
      fill_registers(s_acc, kMagicBits);
      wgmma_fence();
      issue_qk<T>(s_acc, c.q_desc, smem.stage(s));
      wgmma_commit();
      wgmma_wait<0>();
      pin_registers(s_acc);
      if (!c.softmax(s_acc, n_block, s, alpha, y, p_encode, p_descale)) {
        rescale_rows(c.o_acc, alpha);
        uint32_t p_frag[T::kPvChunks][4];
        pack_p<T>(y, p_encode, p_frag);
        if constexpr (T::kPvFp16) {
          PvPipe<T> pv;
          pv.prepare(c.o_acc, p_frag);
          wgmma_fence();
          pv.issue(c.o_acc, p_frag, smem.stage(s));
          wgmma_commit();
          wgmma_wait<0>();
          pv.finish(c.o_acc, nullptr, p_descale, c.quad);
        } else {
#pragma unroll
          for (int b = 0; b < kKeyBlocks; ++b) {  // one key block at a time: one accumulator [64, D] live
            fill_registers(pv_acc, kMagicBits);
            pin_registers(p_frag);
            wgmma_fence();
            issue_pv<T>(pv_acc, p_frag, smem.stage(s), b);
            wgmma_commit();
            wgmma_wait<0>();
            accumulate_pv<T>(c.o_acc, pv_acc, c.v_scales(s), p_descale, b, c.quad);
          }
        }
      }
      mbarrier_arrive(smem.empty(s));  // this thread's last read of the stage is done
    }
  } else {
    constexpr bool kPingPong = T::kSchedule == Sm90Schedule::kPingPong;
    // Ping-pong: consumer c may issue once barrier kIssueBarrier + c completes (its sync + the other's arrival);
    // consumer 1's first arrival opens consumer 0's first turn. Each consumer issues n_blocks + 1 times.
    const int my_turn = kIssueBarrier + consumer, other_turn = kIssueBarrier + 1 - consumer;
    if (kPingPong && consumer == 1) named_barrier_arrive<256>(other_turn);
    PvPipe<T> pv;
    float p_descale_prev[2][kKeyBlocks];  // of the tile whose P·V is in flight
    uint32_t p_prev[T::kPvChunks][4];     // its P codes (or fp16 pairs): the A operand of that P·V

    mbarrier_wait(smem.full(0), 0);
    if constexpr (kPingPong) named_barrier_sync<256>(my_turn);
    fill_registers(s_acc, kMagicBits);
    wgmma_fence();
    issue_qk<T>(s_acc, c.q_desc, smem.stage(0));
    wgmma_commit();
    if constexpr (kPingPong) named_barrier_arrive<256>(other_turn);
    wgmma_wait<0>();
    pin_registers(s_acc);
    c.softmax(s_acc, 0, 0, alpha, y, p_encode, p_descale_prev);
    rescale_rows(c.o_acc, alpha);  // O is still 0: as the serial schedule does, for the same bits in every case
    pack_p<T>(y, p_encode, p_prev);
    int s_prev = 0;

    for (int n_block = 1; n_block < n_blocks; ++n_block) {
      const int s = n_block % T::kStages;
      mbarrier_wait(smem.full(s), (n_block / T::kStages) & 1);
      if constexpr (kPingPong) named_barrier_sync<256>(my_turn);
      fill_registers(s_acc, kMagicBits);
      pv.prepare(c.o_acc, p_prev);
      wgmma_fence();
      issue_qk<T>(s_acc, c.q_desc, smem.stage(s));
      wgmma_commit();
      pv.issue(c.o_acc, p_prev, smem.stage(s_prev));
      wgmma_commit();
      if constexpr (kPingPong) named_barrier_arrive<256>(other_turn);
      wgmma_wait<1>();  // Q·Kᵀ(j) done; P·V(j − 1) runs on during the softmax
      pin_registers(s_acc);
      c.softmax(s_acc, n_block, s, alpha, y, p_encode, p_descale);
      wgmma_wait<0>();  // P·V(j − 1) into O before O·α(j); then its stage goes back to the producer
      pv.finish(c.o_acc, c.v_scales(s_prev), p_descale_prev, c.quad);
      mbarrier_arrive(smem.empty(s_prev));
      rescale_rows(c.o_acc, alpha);
      pack_p<T>(y, p_encode, p_prev);
#pragma unroll
      for (int r = 0; r < 2; ++r) {
#pragma unroll
        for (int b = 0; b < kKeyBlocks; ++b) p_descale_prev[r][b] = p_descale[r][b];
      }
      s_prev = s;
    }

    // The last tile's P·V.
    if constexpr (kPingPong) named_barrier_sync<256>(my_turn);
    pv.prepare(c.o_acc, p_prev);
    wgmma_fence();
    pv.issue(c.o_acc, p_prev, smem.stage(s_prev));
    wgmma_commit();
    if constexpr (kPingPong) named_barrier_arrive<256>(other_turn);
    wgmma_wait<0>();
    pv.finish(c.o_acc, c.v_scales(s_prev), p_descale_prev, c.quad);
    mbarrier_arrive(smem.empty(s_prev));
    // Consumer 1's last arrival on consumer 0's barrier completes it, so no barrier is left half-arrived.
    if (kPingPong && consumer == 0) named_barrier_sync<256>(my_turn);
  }

  store_rows<T::kHeadDim>(c.o_acc, c.l_run, args, args.out + bh * args.seq_q * T::kHeadDim, c.row0, c.quad, bkv);
}

#endif  // QATTN_SM90A_DEVICE_CODE

template <typename Variant, int kHeadDim, PvPrecision kPv, int kKeyBlock, Sm90Schedule kSchedule, int kTileVariant>
__global__ void __launch_bounds__(AttnFwdSm90Traits<kHeadDim, kPv, kKeyBlock, kSchedule, kTileVariant>::kThreads, 1)
    attn_fwd_sm90_kernel(const __grid_constant__ AttnFwdSm90Params params) {
#ifdef QATTN_SM90A_DEVICE_CODE
  using T = AttnFwdSm90Traits<kHeadDim, kPv, kKeyBlock, kSchedule, kTileVariant>;
  const AttentionArgs& args = params.args;
  extern __shared__ uint8_t smem_raw[];

  // Causal: the last query tiles see the most keys; launch them first so the tail of the grid is short.
  const int m_block = args.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
  const int head = blockIdx.y, batch = blockIdx.z;
  const int kv_head = head / (args.heads / args.kv_heads);
  const int m0 = m_block * T::kBlockM;
  const int diag = args.seq_kv - args.seq_q;
  const int key_end = args.causal ? min(args.seq_kv, m0 + T::kBlockM + diag) : args.seq_kv;
  const int n_blocks = key_end > 0 ? (key_end + T::kBlockN - 1) / T::kBlockN : 0;
  // Key tiles below first_masked need no element mask: fully inside seq_kv and visible to the tile's first row.
  int first_masked = args.seq_kv / T::kBlockN;
  if (args.causal) first_masked = min(first_masked, max(0, m0 + diag + 1) / T::kBlockN);
  const int64_t bh = (int64_t)batch * args.heads + head;
  const int64_t bkv = (int64_t)batch * args.kv_heads + kv_head;

  if (n_blocks == 0) {  // every query of this tile sees no key: zero rows, as the reference defines them
    float* out_rows = args.out + bh * args.seq_q * kHeadDim;
    for (int i = threadIdx.x; i < T::kBlockM * kHeadDim; i += T::kThreads) {
      const int row = m0 + i / kHeadDim;
      if (row < args.seq_q) out_rows[(int64_t)row * kHeadDim + i % kHeadDim] = 0.f;
    }
    return;
  }

  AttnFwdSm90Smem<T> smem;
  smem.base = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  smem.addr = smem_u32(smem.base);
  if (threadIdx.x == 0) {
    for (int s = 0; s < T::kStages; ++s) {
      mbarrier_init(smem.full(s), 1);                     // the producer's arrive.expect_tx
      mbarrier_init(smem.empty(s), T::kConsumerThreads);  // every consumer thread, once per tile
    }
    mbarrier_init(smem.q_full(), 1);
    fence_mbarrier_init();
  }
  __syncthreads();  // the last CTA-wide barrier: after the role split the producer's idle threads exit

  // Each role is one branch of this if/else: ptxas honours setmaxnreg only in that form (else it warns, C7508).
  if (threadIdx.x < 128) {
    warpgroup_registers_dec<T::kTile.producer_registers>();
    if (threadIdx.x == 0) attn_fwd_sm90_produce<T>(params, smem, m0, n_blocks, bh, bkv);
  } else {
    warpgroup_registers_inc<T::kTile.consumer_registers>();
    attn_fwd_sm90_consume<Variant, T>(args, smem, threadIdx.x / 128 - 1, m0, n_blocks, first_masked, bh, bkv);
  }
#elif defined(__CUDA_ARCH__)
  __trap();  // compiled for sm_80 / compute_80 too; only a 9.0 device (sm_90a code) ever launches it
#endif
}

// Whether the sm90a kernel serves a call; launch_attention runs the sm80 kernel for the rest. Beyond the head dim
// (and the P·V precision, which the caller checks): a tensor map describes a non-empty tensor, and TMA coordinates are 32-bit,
// so every row index of the flattened Q, K and V_t must fit.
inline bool attn_fwd_sm90_serves(const AttentionArgs& args) {
  if (!tile_config_sm90_serves(args.head_dim)) return false;
  const int64_t q_rows = (int64_t)args.batch * args.heads * args.seq_q_pad;
  const int64_t k_rows = (int64_t)args.batch * args.kv_heads * args.seq_kv_pad;
  const int64_t v_rows = (int64_t)args.batch * args.kv_heads * args.head_dim;
  const auto fits = [](int64_t rows) { return rows > 0 && rows <= INT32_MAX; };
  return fits(q_rows) && fits(k_rows) && fits(v_rows);
}

template <typename Variant, int kHeadDim, PvPrecision kPv, int kKeyBlock, Sm90Schedule kSchedule, int kTileVariant = 0>
cudaError_t launch_attn_fwd_sm90_impl(const AttentionArgs& args, cudaStream_t stream) {
  using T = AttnFwdSm90Traits<kHeadDim, kPv, kKeyBlock, kSchedule, kTileVariant>;
  static_assert(T::kSchedule == kSchedule, "instantiated for the schedule it runs (launch_attn_fwd_sm90_schedule)");
  auto kernel = attn_fwd_sm90_kernel<Variant, kHeadDim, kPv, kKeyBlock, kSchedule, kTileVariant>;
  // Once per kernel, as the sm80 launcher does.
  static std::atomic<bool> smem_configured{false};
  if (!smem_configured.load(std::memory_order_acquire)) {
    const cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes);
    if (status != cudaSuccess) return status;
    smem_configured.store(true, std::memory_order_release);
  }
  AttnFwdSm90Params params;
  params.args = args;
  const uint64_t q_rows = (uint64_t)args.batch * args.heads * args.seq_q_pad;
  const uint64_t kv_rows = (uint64_t)args.batch * args.kv_heads * args.seq_kv_pad;
  const uint64_t v_rows = (uint64_t)args.batch * args.kv_heads * kHeadDim;
  cudaError_t status = encode_byte_tile_map(&params.q_map, args.q_int8, kHeadDim, q_rows, kHeadDim, T::kBlockM);
  if (status != cudaSuccess) return status;
  status = encode_byte_tile_map(&params.k_map, args.k_int8, kHeadDim, kv_rows, kHeadDim, T::kBlockN);
  if (status != cudaSuccess) return status;
  const uint64_t v_row_bytes = (uint64_t)args.seq_kv_pad * (T::kPvFp16 ? 2 : 1);
  status = encode_byte_tile_map(&params.v_map, args.v_t, v_row_bytes, v_rows, T::kVSubtileRowBytes, kHeadDim);
  if (status != cudaSuccess) return status;
  const dim3 grid((args.seq_q + T::kBlockM - 1) / T::kBlockM, args.heads, args.batch);
  kernel<<<grid, T::kThreads, T::kSmemBytes, stream>>>(params);
  return cudaGetLastError();
}

// The measured tile alternative the process asked for (QATTN_TILE_VARIANT, read once; tile_config_sm90), 0 = the choice.
inline int sm90_tile_variant() {
  static const int variant = [] {
    const char* value = std::getenv("QATTN_TILE_VARIANT");
    return value != nullptr ? std::atoi(value) : 0;
  }();
  return variant;
}

// The schedule a call runs: the requested one where it fits (tile_config_sm90), so each distinct kernel is compiled once.
template <typename Variant, int kHeadDim, PvPrecision kPv, int kKeyBlock>
cudaError_t launch_attn_fwd_sm90_schedule(const AttentionArgs& args, Sm90Schedule schedule, cudaStream_t stream) {
  constexpr bool kFp16 = kPv == PvPrecision::kFp16;
  constexpr Sm90Schedule kOverlap = tile_config_sm90(kHeadDim, kKeyBlock, kFp16, Sm90Schedule::kOverlap).schedule;
  constexpr Sm90Schedule kPingPong = tile_config_sm90(kHeadDim, kKeyBlock, kFp16, Sm90Schedule::kPingPong).schedule;
  if constexpr (kFp16) {
    if (schedule == Sm90Schedule::kOverlap && sm90_tile_variant() == 1) {
      return launch_attn_fwd_sm90_impl<Variant, kHeadDim, kPv, kKeyBlock, Sm90Schedule::kOverlap, 1>(args, stream);
    }
    if (schedule == Sm90Schedule::kOverlap && sm90_tile_variant() == 2) {
      return launch_attn_fwd_sm90_impl<Variant, kHeadDim, kPv, kKeyBlock, Sm90Schedule::kOverlap, 2>(args, stream);
    }
  }
  switch (schedule) {
    case Sm90Schedule::kOverlap: return launch_attn_fwd_sm90_impl<Variant, kHeadDim, kPv, kKeyBlock, kOverlap>(args, stream);
    case Sm90Schedule::kPingPong: return launch_attn_fwd_sm90_impl<Variant, kHeadDim, kPv, kKeyBlock, kPingPong>(args, stream);
    default: return launch_attn_fwd_sm90_impl<Variant, kHeadDim, kPv, kKeyBlock, Sm90Schedule::kSerial>(args, stream);
  }
}

template <typename Variant, PvPrecision kPv, int kKeyBlock>
cudaError_t launch_attn_fwd_sm90_dim(const AttentionArgs& args, Sm90Schedule schedule, cudaStream_t stream) {
  switch (args.head_dim) {
#define QATTN_ATTN_SM90_HEAD_DIM_CASE(dim)                                                          \
  case dim:                                                                                        \
    if constexpr (tile_config_sm90_serves(dim)) {                                                  \
      return launch_attn_fwd_sm90_schedule<Variant, dim, kPv, kKeyBlock>(args, schedule, stream);  \
    }                                                                                              \
    break;
    QATTN_FOR_EACH_HEAD_DIM(QATTN_ATTN_SM90_HEAD_DIM_CASE)
#undef QATTN_ATTN_SM90_HEAD_DIM_CASE
    default: break;
  }
  return cudaErrorInvalidValue;
}

// The sm90a attention kernel of one variant, P·V precision and consumer schedule, for a call attn_fwd_sm90_serves.
// fp16 P·V has no key blocks (P unquantized, V fp16): it is compiled once, as key block 64 (as on sm80).
template <typename Variant, PvPrecision kPv>
cudaError_t launch_attn_fwd_sm90(const AttentionArgs& args, Sm90Schedule schedule, cudaStream_t stream) {
  if constexpr (kPv == PvPrecision::kFp16) {
    return launch_attn_fwd_sm90_dim<Variant, kPv, 64>(args, schedule, stream);
  } else {
    switch (args.key_block) {
#define QATTN_ATTN_SM90_KEY_BLOCK_CASE(keys) \
  case keys: return launch_attn_fwd_sm90_dim<Variant, kPv, keys>(args, schedule, stream);
      QATTN_FOR_EACH_KEY_BLOCK(QATTN_ATTN_SM90_KEY_BLOCK_CASE)
#undef QATTN_ATTN_SM90_KEY_BLOCK_CASE
      default: return cudaErrorInvalidValue;
    }
  }
}

}  // namespace qattn
