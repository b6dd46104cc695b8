// Shared memory of decode_split_kernel (decode_paged_splitkv.cu), and the checks of a decode argument block. The byte
// count is also computed by TypeScript (src/decode/cuda/schedule.ts, decodeSmemBytes) to reject shapes that do not fit.
#pragma once

#include <cstdint>

#include "decode_args.h"

namespace qattn {

constexpr int kDecodeExponentExp2 = 0;
constexpr int kDecodeExponentSas = 1;
// Most splits one sequence may have (the combine kernel keeps one weight per split in shared memory).
constexpr int kDecodeMaxCombineSplits = 1024;
// quant-core's SAFE_SCALE (an all-zero row) and MIN_SCALE (2^−126).
constexpr float kDecodeSafeScale = 1.f;
constexpr float kDecodeMinScale = 1.17549435e-38f;

struct DecodeSmem {
  int8_t* q_int8;    // [rows, headDim]
  int8_t* k_int8;    // [pageSize, decode_k_stride(headDim)] the page's K decompressed
  int8_t* v_int8;    // [headDim, decode_v_stride(pageSize)] the page's V decompressed (channel-major)
  int8_t* p_codes;   // [rows, pageSize]
  float* q_rot;      // [rows, headDim] rotated q (the sink's fp32 q·k)
  float* scores;     // [rows, scoreStride] logits, then p
  float* o_acc;      // [rows, headDim]
  float* q_scale;    // [rows]
  float* q_shift;    // [rows] δ, base 2
  float* row_max;    // [rows]
  float* row_sum;    // [rows]
  float* p_descale;  // [rows]
  int* last_key;     // [rows]
  int score_stride;  // max(pageSize, sinkTokens)
};

__host__ __device__ constexpr int decode_align16(int bytes) { return (bytes + 15) / 16 * 16; }

// Row strides (bytes) of the decompressed pages in shared memory: one word more than a row. The dp4a loops give each
// thread its own key row (logits) or channel row (P·V) and walk it word by word, so with unpadded rows of 32 (K, hd
// 128) or 16 (V, 64-token pages) words every lane of a warp hit the same bank: 32- and 16-way conflicts. An odd word
// count per row puts lane i's word w in bank (i + w) mod 32.
__host__ __device__ constexpr int decode_k_stride(int head_dim) { return head_dim + 4; }
__host__ __device__ constexpr int decode_v_stride(int page_size) { return page_size + 4; }

// Carves `base` (or computes the size from base = nullptr): the same walk for both, so they cannot disagree.
__host__ __device__ inline int decode_smem_walk(unsigned char* base, int rows, int head_dim, int page_size, int sink_tokens, DecodeSmem* out) {
  const int score_stride = page_size > sink_tokens ? page_size : sink_tokens;
  int offset = 0;
  auto take = [&](int bytes) {
    unsigned char* p = base == nullptr ? nullptr : base + offset;
    offset += decode_align16(bytes);
    return p;
  };
  DecodeSmem s{};
  s.q_int8 = reinterpret_cast<int8_t*>(take(rows * head_dim));
  s.k_int8 = reinterpret_cast<int8_t*>(take(page_size * decode_k_stride(head_dim)));
  s.v_int8 = reinterpret_cast<int8_t*>(take(head_dim * decode_v_stride(page_size)));
  s.p_codes = reinterpret_cast<int8_t*>(take(rows * page_size));
  s.q_rot = reinterpret_cast<float*>(take(rows * head_dim * 4));
  s.scores = reinterpret_cast<float*>(take(rows * score_stride * 4));
  s.o_acc = reinterpret_cast<float*>(take(rows * head_dim * 4));
  s.q_scale = reinterpret_cast<float*>(take(rows * 4));
  s.q_shift = reinterpret_cast<float*>(take(rows * 4));
  s.row_max = reinterpret_cast<float*>(take(rows * 4));
  s.row_sum = reinterpret_cast<float*>(take(rows * 4));
  s.p_descale = reinterpret_cast<float*>(take(rows * 4));
  s.last_key = reinterpret_cast<int*>(take(rows * 4));
  s.score_stride = score_stride;
  if (out != nullptr) *out = s;
  return offset;
}

__host__ __device__ inline int decode_smem_bytes(int rows, int head_dim, int page_size, int sink_tokens) {
  return decode_smem_walk(nullptr, rows, head_dim, page_size, sink_tokens, nullptr);
}

__device__ inline DecodeSmem decode_smem_carve(unsigned char* base, int rows, int head_dim, int page_size, int sink_tokens) {
  DecodeSmem s;
  decode_smem_walk(base, rows, head_dim, page_size, sink_tokens, &s);
  return s;
}

// nullptr when the block is one the kernels handle; else why not (TypeScript checks the same before launching).
inline const char* decode_args_invalid(const DecodeArgs& a) {
  if (a.batch > 65535 || a.kv_heads * a.row_tiles > 65535) return "batch or kvHeads·rowTiles exceeds the grid (65535)";
  if (a.batch < 1 || a.kv_heads < 1 || a.heads < a.kv_heads || a.heads % a.kv_heads != 0) return "bad batch/heads/kvHeads";
  if (a.query_tokens < 1 || a.query_tokens > 16) return "queryTokens must be in [1, 16]";
  if (a.head_dim < 4 || a.head_dim % 4 != 0) return "headDim must be a multiple of 4 (dp4a words)";
  if (a.page_size < 16 || a.page_size % 16 != 0) return "pageSize must be a multiple of 16";
  if (a.sink_tokens < 0 || a.max_pages < 0) return "bad sinkTokens/maxPages";
  if (a.rows_per_tile < 1 || a.rows_per_tile > kDecodeMaxRowsPerTile) return "rowsPerTile must be in [1, 16]";
  const int rows_total = a.heads / a.kv_heads * a.query_tokens;
  if (a.row_tiles != (rows_total + a.rows_per_tile - 1) / a.rows_per_tile) return "rowTiles does not cover the rows";
  if (a.max_splits < 1 || a.max_splits > kDecodeMaxCombineSplits || a.pages_per_split < 1) return "bad maxSplits/pagesPerSplit";
  if (a.exponent != kDecodeExponentExp2 && a.exponent != kDecodeExponentSas) return "unknown exponent";
  if (a.path != kDecodePathSimt && a.path != kDecodePathMma) return "unknown path";
  if (a.q == nullptr || a.out == nullptr || a.partial_out == nullptr || a.partial_lse == nullptr || a.lengths == nullptr ||
      a.k_mean == nullptr || (a.path == kDecodePathMma && a.combine_counters == nullptr)) {
    return "a required pointer is null";
  }
  return nullptr;
}

}  // namespace qattn
