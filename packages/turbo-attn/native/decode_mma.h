// The tensor-core split-KV decode kernel (decode_paged_mma.cu): which shapes it serves, its shared memory, and its
// launch. TypeScript mirrors decode_mma_smem_bytes and decode_mma_supported (src/decode/cuda/schedule.ts) to choose
// the path before launching; the launcher checks them again.
#pragma once

#include <cuda_runtime.h>

#include "decode_args.h"
#include "decode_smem_layout.h"

namespace qattn {

// Warps per CTA; each warp runs one split on its own (no block barrier after the query prologue).
constexpr int kDecodeMmaWarps = 4;
// Query rows per CTA: the n = 8 of mma.m16n8k16 (more rows take more row tiles).
constexpr int kDecodeMmaRows = 8;
// The largest sink it scores (its scores sit in the warp's scratch). Pages of 16, 32 or 64 tokens (a page's logits
// stay in registers: at most 4 key tiles of 16) and head dims 64 and 128 are compiled.
constexpr int kDecodeMmaMaxSink = 64;

// Byte offsets of one pipeline stage: a page's K and V codes (at the widest width the cache holds: `room_bits`), the
// integer step/zero of INT4/INT2 pages, and the scales (one per page, or one per token for INT8 pages and the buffer).
struct DecodeMmaStage {
  int k_codes, v_codes, k_step, k_zero, v_step, v_zero, k_scales, v_scales, bytes;
};

__host__ __device__ inline DecodeMmaStage decode_mma_stage(int head_dim, int page_size, int room_bits) {
  DecodeMmaStage s{};
  int offset = 0;
  auto take = [&](int bytes) {
    const int at = offset;
    offset += decode_align16(bytes);
    return at;
  };
  s.k_codes = take(page_size * head_dim * room_bits / 8);
  s.v_codes = take(head_dim * page_size * room_bits / 8);
  s.k_step = take(head_dim);
  s.k_zero = take(head_dim);
  s.v_step = take(page_size);
  s.v_zero = take(page_size);
  s.k_scales = take(page_size * 4);
  s.v_scales = take(page_size * 4);
  s.bytes = offset;
  return s;
}

// Shared memory of one warp: two stages (the page computed and the page loading), then the page's step/zero as fp16
// (K per channel, V per token) and the sink's scores.
__host__ __device__ inline int decode_mma_warp_bytes(int head_dim, int page_size, int sink_tokens, int room_bits) {
  const int scratch = decode_align16(2 * head_dim * 2) + decode_align16(2 * page_size * 2) + decode_align16(kDecodeMmaRows * sink_tokens * 4);
  return 2 * decode_mma_stage(head_dim, page_size, room_bits).bytes + scratch;
}

// The block's query rows (fp16 INT8 codes for the MMA, fp32 rotated rows for the sink, s_q, δ, last key), then the
// warps' parts.
__host__ __device__ inline int decode_mma_block_bytes(int head_dim) {
  return decode_align16(kDecodeMmaRows * head_dim * 2) + decode_align16(kDecodeMmaRows * head_dim * 4) + 3 * decode_align16(kDecodeMmaRows * 4);
}

__host__ __device__ inline int decode_mma_smem_bytes(int head_dim, int page_size, int sink_tokens, int room_bits) {
  return decode_mma_block_bytes(head_dim) + kDecodeMmaWarps * decode_mma_warp_bytes(head_dim, page_size, sink_tokens, room_bits);
}

// Whether the tensor-core kernel serves this block (else the SIMT kernel does).
inline bool decode_mma_supported(const DecodeArgs& a) {
  return (a.head_dim == 64 || a.head_dim == 128) && (a.page_size == 16 || a.page_size == 32 || a.page_size == 64) &&
         a.sink_tokens <= kDecodeMmaMaxSink && a.rows_per_tile <= kDecodeMmaRows;
}

// Launches the split kernel of the tensor-core path (the combine kernel is shared); nullptr or why it failed.
const char* decode_mma_launch(const DecodeArgs& args, cudaStream_t stream);

}  // namespace qattn
