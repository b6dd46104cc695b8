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

// A warp's ring holds `slots` pages in flight (decode_mma_ring_pages), each as two items: the K item (K codes, K's
// step/zero, V's step/zero, both scales: everything the logits and the softmax read) and the V item (V codes, read
// by P·V only). Codes are sized for the widest width the cache holds (`room_bits`); scales are one per token for INT8
// pages, else one per page. The codes of all of a CTA's warps come first in its shared memory, the per-page data
// (`meta`) after them: every code block then starts at a multiple of 1024 bytes (the sizes below are multiples of
// it), the longest swizzle period of TMA's boxes (decode_paged_mma.cu: on sm_90a the items are TMA and bulk copies).
struct DecodeMmaRing {
  int slots;
  int k_codes_bytes, v_codes_bytes;                               // one slot's; its V codes follow its K codes
  int k_step, k_zero, v_step, v_zero, k_scales, v_scales, meta_bytes;  // one slot's meta, offsets from its start
  __host__ __device__ constexpr int slot_codes_bytes() const { return k_codes_bytes + v_codes_bytes; }
  __host__ __device__ constexpr int codes_bytes() const { return slots * slot_codes_bytes(); }  // a warp's codes
  __host__ __device__ constexpr int meta_region_bytes() const { return slots * meta_bytes; }    // a warp's meta
};

// Pages in flight per warp. One at INT8 room: page i + 1's K item is copied while page i's P·V runs, its V item
// after that. Two at INT4/INT2 room, whose items are half as large: page i + 2's are copied after page i. The ring
// is about 17 KB either way (hd128, pages of 64), so INT8 caches run 4 warps per CTA as INT4 ones do (with two whole
// stages per warp they ran 2). The kernel is compiled per ring depth.
__host__ __device__ constexpr int decode_mma_ring_pages(int room_bits) { return room_bits == 8 ? 1 : 2; }
// The room width a ring depth serves (the inverse of decode_mma_ring_pages): the kernel's layout is a constant.
__host__ __device__ constexpr int decode_mma_ring_room_bits(int ring_pages) { return ring_pages == 1 ? 8 : 4; }

__host__ __device__ constexpr DecodeMmaRing decode_mma_ring(int head_dim, int page_size, int room_bits) {
  DecodeMmaRing r{};
  r.slots = decode_mma_ring_pages(room_bits);
  r.k_codes_bytes = r.v_codes_bytes = page_size * head_dim * room_bits / 8;  // ≥ 16·64·4/8 = 512, a power of two
  const int scales = room_bits == 8 ? page_size * 4 : 4;
  // One slot's meta, each part 16-byte aligned.
  r.k_step = 0;
  r.k_zero = r.k_step + decode_align16(head_dim);
  r.v_step = r.k_zero + decode_align16(head_dim);
  r.v_zero = r.v_step + decode_align16(page_size);
  r.k_scales = r.v_zero + decode_align16(page_size);
  r.v_scales = r.k_scales + decode_align16(scales);
  r.meta_bytes = r.v_scales + decode_align16(scales);
  return r;
}

// The INT8 buffer (the newest tokens, INT8 K and V of up to a whole page with a scale per token, no step/zero) takes a
// warp's whole ring: K codes at the start of its codes, V codes (channel-major) P·D bytes further, the scales in its
// meta. It always fits (decode_mma_buffer_fits): the codes are 2·P·D at both room widths (one slot of 8-bit codes,
// or two of 4-bit ones), the meta ≥ 2·D + 2·P + 8·P ≥ 8·P.
struct DecodeMmaBufferLayout {
  int v_codes;             // from the warp's codes
  int k_scales, v_scales;  // from the warp's meta
};
__host__ __device__ inline DecodeMmaBufferLayout decode_mma_buffer_layout(int head_dim, int page_size) {
  return {page_size * head_dim, 0, page_size * 4};
}
__host__ __device__ inline bool decode_mma_buffer_fits(int head_dim, int page_size, int room_bits) {
  const DecodeMmaRing r = decode_mma_ring(head_dim, page_size, room_bits);
  return r.codes_bytes() >= 2 * page_size * head_dim && r.meta_region_bytes() >= 8 * page_size;
}

// Splits per half of the fused merge's staging (decode_paged_mma.cu combine_tile): each brings its rows' lse values
// (the half's first bytes, 16-byte aligned) and states (rows·head_dim floats). The kernel checks at compile time that
// a half of its warps' codes and meta holds one split of kDecodeMmaRows rows.
__host__ __device__ constexpr int decode_mma_merge_chunk(int half_bytes, int rows, int head_dim) {
  return (half_bytes - 16) / (rows * (head_dim + 1) * 4);
}

// Shared memory of one warp: its codes, its meta and the sink's scores.
__host__ __device__ inline int decode_mma_sink_bytes(int sink_tokens) { return decode_align16(kDecodeMmaRows * sink_tokens * 4); }
__host__ __device__ inline int decode_mma_warp_bytes(int head_dim, int page_size, int sink_tokens, int room_bits) {
  const DecodeMmaRing r = decode_mma_ring(head_dim, page_size, room_bits);
  return r.codes_bytes() + r.meta_region_bytes() + decode_mma_sink_bytes(sink_tokens);
}

// mbarriers per warp (sm_90a: a K and a V barrier per ring slot, at most two slots).
constexpr int kDecodeMmaBarriersPerWarp = 4;

// The block's part, after the warps' parts: its query rows (INT8 codes for the MMA, fp32 rotated rows for the sink,
// s_q, δ, last key), the combine's row maxima and sums, the warps' mbarriers and the last-CTA flag (the kernel has no
// static shared variables: see decode_paged_mma.cu smem_raw).
__host__ __device__ inline int decode_mma_block_bytes(int head_dim) {
  return decode_align16(kDecodeMmaRows * head_dim) + decode_align16(kDecodeMmaRows * head_dim * 4) + 5 * decode_align16(kDecodeMmaRows * 4) +
         decode_align16(kDecodeMmaWarps * 8 * kDecodeMmaBarriersPerWarp) + 16;
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
