// The tensor-core split-KV decode kernel (decode_paged_mma.cu): which shapes it serves, its shared memory, and its
// launch. TypeScript mirrors decode_mma_smem_bytes and decode_mma_supported (src/decode/cuda/schedule.ts) to choose
// the path before launching; the launcher checks them again.
#pragma once

#include <cuda_runtime.h>

#include "decode_args.h"
#include "decode_smem_layout.h"

namespace qattn {

// Warps per CTA; each warp runs one split on its own (no block barrier after the query prologue). 3 CTAs, 12 warps
// per SM at hd128 and pages of 64, whatever the cache's widths: each warp's ring of K and V items
// (decode_mma_ring_pages) takes about 17 KB at INT4/INT2 room and at INT8 room alike.
constexpr int kDecodeMmaWarps = 4;

// The widest page width of the cache an argument block points at: 8 when it has an INT8 pool, else 4 (INT2 pages fit
// INT4 room). Sizes the ring's items; TypeScript's roomBitsOf (src/decode/cuda/index.ts) is the same test.
__host__ __device__ inline int decode_mma_room_bits(const DecodeArgs& a) {
  return a.k.pools[0].codes != nullptr || a.v.pools[0].codes != nullptr ? 8 : 4;
}
// Query rows per CTA: the n = 8 of mma.m16n8k16 (more rows take more row tiles).
constexpr int kDecodeMmaRows = 8;
// The largest sink it scores (its scores sit in the warp's scratch). Pages of 16, 32 or 64 tokens (a page's logits
// stay in registers: at most 4 key tiles of 16) and head dims 64 and 128 are compiled.
constexpr int kDecodeMmaMaxSink = 64;

// A page travels into a warp's shared memory as two copies, each its own cp.async group: the K item (K codes, K's
// step/zero, V's step/zero, both scales: everything the logits and the softmax read) and the V item (V codes, read by
// P·V only). Codes are sized for the widest width the cache holds (`room_bits`); scales are one per token for INT8
// pages, else one per page. Offsets of the K item are from its start; the V item's codes sit at its start.
struct DecodeMmaStage {
  int k_codes, k_step, k_zero, v_step, v_zero, k_scales, v_scales, k_bytes;  // the K item
  int v_codes, v_bytes;                                                    // the V item
  __host__ __device__ int pair_bytes() const { return k_bytes + v_bytes; }
};

__host__ __device__ inline DecodeMmaStage decode_mma_stage(int head_dim, int page_size, int room_bits) {
  DecodeMmaStage s{};
  int offset = 0;
  auto take = [&](int bytes) {
    const int at = offset;
    offset += decode_align16(bytes);
    return at;
  };
  const int scales = room_bits == 8 ? page_size * 4 : 4;
  s.k_codes = take(page_size * head_dim * room_bits / 8);
  s.k_step = take(head_dim);
  s.k_zero = take(head_dim);
  s.v_step = take(page_size);
  s.v_zero = take(page_size);
  s.k_scales = take(scales);
  s.v_scales = take(scales);
  s.k_bytes = offset;
  s.v_codes = 0;
  s.v_bytes = decode_align16(head_dim * page_size * room_bits / 8);
  return s;
}

// Pages in flight per warp: its ring holds this many (K item, V item) pairs. One at INT8 room: page i + 1's K item is
// copied while page i's P·V runs, its V item after that. Two at INT4/INT2 room, whose items are half as large: page
// i + 2's are copied after page i. The ring is about 17 KB either way (hd128, pages of 64), so INT8 caches run 4 warps
// per CTA as INT4 ones do (with two whole stages per warp they ran 2). The kernel is compiled per ring depth.
__host__ __device__ inline int decode_mma_ring_pages(int room_bits) { return room_bits == 8 ? 1 : 2; }

// The INT8 buffer's layout over a warp's whole ring (INT8 K and V of a whole page and a scale per token: no
// step/zero). It always fits (decode_mma_buffer_fits): INT4 room, two pairs: 2·P·D + 4·D + 4·P + 64 ≥ 2·P·D + 8·P
// for D ≥ P; INT8 room, one pair: 2·P·D + 2·D + 10·P ≥ 2·P·D + 8·P.
__host__ __device__ inline DecodeMmaStage decode_mma_buffer_layout(int head_dim, int page_size) {
  DecodeMmaStage s{};
  s.k_codes = 0;
  s.v_codes = page_size * head_dim;  // from the ring's start, as k_codes (one region, not an item pair)
  s.k_scales = 2 * page_size * head_dim;
  s.v_scales = s.k_scales + page_size * 4;
  s.k_step = s.k_zero = s.v_step = s.v_zero = s.k_scales;  // unused by INT8 chunks
  s.k_bytes = s.v_scales + page_size * 4;
  s.v_bytes = 0;
  return s;
}

// Shared memory of one warp: its ring, then the sink's scores.
__host__ __device__ inline int decode_mma_ring_bytes(int head_dim, int page_size, int room_bits) {
  return decode_mma_ring_pages(room_bits) * decode_mma_stage(head_dim, page_size, room_bits).pair_bytes();
}
__host__ __device__ inline int decode_mma_warp_bytes(int head_dim, int page_size, int sink_tokens, int room_bits) {
  return decode_mma_ring_bytes(head_dim, page_size, room_bits) + decode_align16(kDecodeMmaRows * sink_tokens * 4);
}
__host__ __device__ inline bool decode_mma_buffer_fits(int head_dim, int page_size, int room_bits) {
  return decode_mma_buffer_layout(head_dim, page_size).k_bytes <= decode_mma_ring_bytes(head_dim, page_size, room_bits);
}

// The block's query rows (INT8 codes for the MMA, fp32 rotated rows for the sink, s_q, δ, last key), then the warps'
// parts.
__host__ __device__ inline int decode_mma_block_bytes(int head_dim) {
  return decode_align16(kDecodeMmaRows * head_dim) + decode_align16(kDecodeMmaRows * head_dim * 4) + 3 * decode_align16(kDecodeMmaRows * 4);
}

__host__ __device__ inline int decode_mma_smem_bytes(int head_dim, int page_size, int sink_tokens, int room_bits) {
  return decode_mma_block_bytes(head_dim) + kDecodeMmaWarps * decode_mma_warp_bytes(head_dim, page_size, sink_tokens, room_bits);
}

// Whether the tensor-core kernel serves this block (else the SIMT kernel does).
inline bool decode_mma_supported(const DecodeArgs& a) {
  return (a.head_dim == 64 || a.head_dim == 128) && (a.page_size == 16 || a.page_size == 32 || a.page_size == 64) &&
         a.sink_tokens <= kDecodeMmaMaxSink && a.rows_per_tile <= kDecodeMmaRows;
}

// Whether a tile's rows (at most 4: GQA 4:1 with one query token, say) run packed: the low and high parts of q̂·step
// and P̂·step share one MMA's n = 8 columns instead of taking two MMAs (decode_paged_mma.cu page_logits).
inline bool decode_mma_packed(const DecodeArgs& a) { return a.rows_per_tile <= kDecodeMmaRows / 2; }

// Launches the split kernel of the tensor-core path, which merges its splits itself (no combine kernel); nullptr or
// why it failed.
const char* decode_mma_launch(const DecodeArgs& args, cudaStream_t stream);

}  // namespace qattn
