// Split-KV decode attention over the paged, quantized KV cache (@qattn/kv-cache layout.ts), the CUDA form of
// src/decode/decode_paged_cpu.ts (the oracle; read its doc for the algorithm). Two kernels on the runtime's stream:
//
//   decode_split_kernel    grid (split, kvHead · rowTile, sequence), 128 threads. One CTA serves rowsPerTile query
//                          rows (the query heads of one kv head × queryTokens, GQA packed) over the pages of one split:
//                          q rotated and quantized to INT8 in the CTA, the sink in fp32, each page decompressed to INT8
//                          once (code·step + zero) into shared memory, INT8 q·k and P·V with dp4a, online
//                          base-2 softmax (SAS or exp2), P quantized per row and page as the oracle does. Writes the
//                          split's normalized output and base-2 lse to the workspace.
//   decode_combine_kernel  one CTA per query row: merges the splits' states, un-rotates the output, writes out and lse.
//
// The split count per sequence is max(1, ⌈pages / pagesPerSplit⌉) (splitKVSchedule): the same function of the
// sequence's length on the host (the plan) and here. Never synchronizes, never allocates.
#include <cuda_runtime.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>

#include "decode_args.h"
#include "decode_common.cuh"
#include "decode_mma.h"
#include "decode_smem_layout.h"

namespace qattn {
namespace {

constexpr int kWarps = kDecodeThreads / 32;

// A page's code words held in registers: each thread's share (word w = threadIdx.x + i·kDecodeThreads) of the next
// page, loaded while the current one is computed, so every CTA keeps a page of K and one of V in flight instead of
// stalling on each page's load after a __syncthreads (decode is bandwidth-bound: bytes in flight per SM set the pace).
// 16 words per thread hold an INT8 page of 64 tokens × 128 channels; larger pages take the direct path.
constexpr int kPrefetchWords = 16;
struct PageWords {
  int32_t w[kPrefetchWords];
};

__device__ __forceinline__ int page_words(int bits, int rows, int cols) { return rows * cols * bits / 32; }

__device__ __forceinline__ void load_page_words(PageWords& r, const DecodePoolArgs& pool, int slot, int bits, int rows, int cols) {
  const int words = page_words(bits, rows, cols);
  const int32_t* codes = pool.codes + static_cast<int64_t>(slot) * words;
#pragma unroll
  for (int i = 0; i < kPrefetchWords; ++i) {
    const int w = threadIdx.x + i * kDecodeThreads;
    r.w[i] = w < words ? __ldg(codes + w) : 0;
  }
}

// Word w of a stored page `[rows, cols]` (stored order) to INT8 at dst, rows `stride` bytes apart: INT8 words are
// copied, INT4/INT2 words give code·step[col] + zero[col] — kv-cache's decodePageInt8. A word's codes
// lie in one row (cols is a multiple of 16, so 32/bits divides it); step and zero of 4 columns come in one 32-bit
// load each and 4 INT8 results leave in one 32-bit store.
__device__ __forceinline__ void decompress_word(int8_t* dst, uint32_t word, int w, const DecodePoolArgs& pool, int slot, int bits, int cols, int stride) {
  const int per_word = 32 / bits;
  const int first = w * per_word;
  const int row = first / cols, col = first % cols;
  uint32_t* out = reinterpret_cast<uint32_t*>(dst + row * stride + col);
  if (bits == 8) {
    out[0] = word;
    return;
  }
  const auto* step4 = reinterpret_cast<const uint32_t*>(pool.step + static_cast<int64_t>(slot) * cols + col);
  const auto* zero4 = reinterpret_cast<const uint32_t*>(pool.zero + static_cast<int64_t>(slot) * cols + col);
  const uint32_t mask = (1u << bits) - 1u;
  for (int q = 0; q < per_word / 4; ++q) {
    const uint32_t steps = __ldg(step4 + q), zeros = __ldg(zero4 + q);
    uint32_t packed = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int code = static_cast<int>((word >> ((q * 4 + j) * bits)) & mask);
      const int step = static_cast<int>((steps >> (8 * j)) & 0xffu);
      const int zero = static_cast<int8_t>((zeros >> (8 * j)) & 0xffu);
      const int value = code * step + zero;  // in [−128, 127] by construction (quant-core compressProgressive)
      packed |= (static_cast<uint32_t>(value) & 0xffu) << (8 * j);
    }
    out[q] = packed;
  }
}

// Decompresses a page whose words are in registers (load_page_words) into shared memory.
__device__ __forceinline__ void store_page_words(int8_t* dst, int stride, const PageWords& r, const DecodePoolArgs& pool, int slot, int bits, int rows, int cols) {
  const int words = page_words(bits, rows, cols);
#pragma unroll
  for (int i = 0; i < kPrefetchWords; ++i) {
    const int w = threadIdx.x + i * kDecodeThreads;
    if (w < words) decompress_word(dst, static_cast<uint32_t>(r.w[i]), w, pool, slot, bits, cols, stride);
  }
}

// Decompresses one stored page straight from global memory (pages too large to prefetch into registers).
__device__ void decompress_page(int8_t* dst, int stride, const DecodePoolArgs& pool, int slot, int bits, int rows, int cols) {
  const int words = page_words(bits, rows, cols);
  const int32_t* codes = pool.codes + static_cast<int64_t>(slot) * words;
  for (int w = threadIdx.x; w < words; w += kDecodeThreads) decompress_word(dst, static_cast<uint32_t>(__ldg(codes + w)), w, pool, slot, bits, cols, stride);
}

// Where one page of one tensor lives: its width, slot and pool.
struct PageRef {
  int bits;
  int slot;
  DecodePoolArgs pool;
};

__device__ __forceinline__ PageRef page_ref(const DecodeTensorArgs& tensor, int64_t entry) {
  const int bits = tensor.page_bits[entry];
  return {bits, tensor.page_table[entry], pool_of(tensor, bits)};
}

// What the chunk functions need: scalars copied out of the argument block (a reference into kernel parameter space
// would force the block into local memory).
struct SplitContext {
  DecodeSmem smem;
  int exponent;
  int skip_sparse_tiles;
  float sas_threshold;
  float sm_scale_log2;
  int rows;            // rows of this tile
  int head_dim;
  int page_size;
};

// The online-softmax update of a chunk of n keys whose logits are in smem.scores (oracle: softmaxChunk). Returns
// false, changing nothing, when SAS's sparse-tile skip drops the chunk. Block-uniform.
__device__ bool softmax_chunk(const SplitContext& c, int n) {
  const int stride = c.smem.score_stride;
  const float threshold = c.exponent == kDecodeExponentSas ? c.sas_threshold : INFINITY;
  if (c.skip_sparse_tiles) {
    int kept = 0;
    for (int e = threadIdx.x; e < c.rows * n; e += kDecodeThreads) {
      const int r = e / n, t = e % n;
      const float x = c.smem.scores[r * stride + t];
      if (x > -INFINITY && x >= c.smem.row_max[r] - threshold) kept = 1;
    }
    if (!__syncthreads_or(kept)) return false;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < c.rows; r += kWarps) {
    float* row = c.smem.scores + r * stride;
    float max = -INFINITY;
    for (int t = lane; t < n; t += 32) max = fmaxf(max, row[t]);
    max = warp_max(max);
    const float m_old = c.smem.row_max[r];
    const float m_new = fmaxf(max, m_old);
    __syncwarp();
    if (m_new == -INFINITY) {  // the row sees no key yet
      for (int t = lane; t < n; t += 32) row[t] = 0.f;
      continue;
    }
    const float alpha = m_old == m_new ? 1.f : decode_exp2(m_old - m_new, c.exponent, threshold);
    float sum = 0.f;
    for (int t = lane; t < n; t += 32) {
      const float p = decode_exp2(row[t] - m_new, c.exponent, threshold);
      row[t] = p;
      sum += p;
    }
    sum = warp_sum(sum);
    if (alpha != 1.f) {
      for (int d = lane; d < c.head_dim; d += 32) c.smem.o_acc[r * c.head_dim + d] *= alpha;
    }
    if (lane == 0) {
      c.smem.row_max[r] = m_new;
      c.smem.row_sum[r] = alpha * c.smem.row_sum[r] + sum;
    }
  }
  __syncthreads();
  return true;
}

// x = (q̂·k̂)·s_q·s_k·σ·log2 e + δ for n INT8 keys in smem.k_int8 `[n, headDim]`, masked past each row's last key.
// k_scales[t · k_scale_stride] is key t's scale (stride 0: one block scale).
__device__ void logits_int8(const SplitContext& c, int n, int first_key, const float* k_scales, int k_scale_stride) {
  const int words = c.head_dim / 4;
  const int stride = c.smem.score_stride;
  for (int e = threadIdx.x; e < c.rows * n; e += kDecodeThreads) {
    const int r = e / n, t = e % n;
    float x = -INFINITY;
    if (first_key + t <= c.smem.last_key[r]) {
      const auto* q = reinterpret_cast<const int*>(c.smem.q_int8 + r * c.head_dim);
      const auto* k = reinterpret_cast<const int*>(c.smem.k_int8 + t * decode_k_stride(c.head_dim));
      int dot = 0;
      for (int w = 0; w < words; ++w) dot = __dp4a(q[w], k[w], dot);
      const float descale = c.smem.q_scale[r] * k_scales[t * k_scale_stride] * c.sm_scale_log2;
      x = fmaf(static_cast<float>(dot), descale, c.smem.q_shift[r]);
    }
    c.smem.scores[r * stride + t] = x;
  }
  __syncthreads();
}

// O += P̂·V̂ for n keys: P̂ = round(127·p·s_v / max(p·s_v)) per row (oracle: pvInt8), V̂ in smem.v_int8
// `[headDim, page_size]` channel-major (columns ≥ n are 0). v_scales[t · v_scale_stride] is key t's V scale.
__device__ void pv_int8(const SplitContext& c, int n, const float* v_scales, int v_scale_stride) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int stride = c.smem.score_stride;
  const int page = c.page_size;
  for (int r = warp; r < c.rows; r += kWarps) {
    const float* row = c.smem.scores + r * stride;
    float max = 0.f;
    for (int t = lane; t < n; t += 32) max = fmaxf(max, row[t] * v_scales[t * v_scale_stride]);
    max = warp_max(max);
    int8_t* codes = c.smem.p_codes + r * page;
    const float to_code = max > 0.f ? 127.f / max : 0.f;
    for (int t = lane; t < page; t += 32) {
      const float code = t < n ? rintf(row[t] * v_scales[t * v_scale_stride] * to_code) : 0.f;
      codes[t] = static_cast<int8_t>(fminf(127.f, fmaxf(0.f, code)));
    }
    if (lane == 0) c.smem.p_descale[r] = max / 127.f;
  }
  __syncthreads();
  const int words = (n + 3) / 4;
  for (int e = threadIdx.x; e < c.rows * c.head_dim; e += kDecodeThreads) {
    const int r = e / c.head_dim, d = e % c.head_dim;
    const float descale = c.smem.p_descale[r];
    if (descale == 0.f) continue;
    const auto* p = reinterpret_cast<const int*>(c.smem.p_codes + r * page);
    const auto* v = reinterpret_cast<const int*>(c.smem.v_int8 + d * decode_v_stride(page));
    int dot = 0;
    for (int w = 0; w < words; ++w) dot = __dp4a(p[w], v[w], dot);
    c.smem.o_acc[e] += static_cast<float>(dot) * descale;
  }
  __syncthreads();
}

__global__ void __launch_bounds__(kDecodeThreads, 4) decode_split_kernel(const DecodeArgs args) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int b = blockIdx.z;
  const int g = blockIdx.y / args.row_tiles;
  const int tile = blockIdx.y % args.row_tiles;
  const int split = blockIdx.x;
  const int length = args.lengths[b];
  const int D = args.head_dim, T = args.page_size, S = args.sink_tokens;
  const int sink_n = min(length, S);
  const int after_sink = max(0, length - S);
  const int pages = after_sink / T;
  const int buffer_n = after_sink % T;
  const int splits = max(1, (pages + args.pages_per_split - 1) / args.pages_per_split);
  if (split >= splits) return;

  const int group_size = args.heads / args.kv_heads;
  const int rows_total = group_size * args.query_tokens;
  const int row0 = tile * args.rows_per_tile;
  const int rows = min(args.rows_per_tile, rows_total - row0);
  if (rows <= 0) return;  // a balanced tiling can leave the last tile empty (rows_total > 272)
  const int group = b * args.kv_heads + g;
  const DecodeSmem smem = decode_smem_carve(smem_raw, args.rows_per_tile, D, T, S);
  const SplitContext c{smem, args.exponent, args.skip_sparse_tiles, args.sas_threshold, args.sm_scale_log2, rows, D, T};
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // q: rotated like the cache, quantized to INT8 per row, with its rounding shift δ (prepare_query_row). One warp per row.
  for (int r = warp; r < rows; r += kWarps) {
    int8_t* codes = smem.q_int8 + r * D;
    const QueryRow row = prepare_query_row(args, b, g, row0 + r, smem.q_rot + r * D, lane, [&](int d, float code) { codes[d] = static_cast<int8_t>(code); });
    if (lane == 0) {
      smem.q_scale[r] = row.scale;
      smem.q_shift[r] = row.shift;
      smem.last_key[r] = row.last_key;
      smem.row_max[r] = -INFINITY;
      smem.row_sum[r] = 0.f;
    }
  }
  for (int e = threadIdx.x; e < rows * D; e += kDecodeThreads) smem.o_acc[e] = 0.f;
  __syncthreads();

  // Sink: float32 K and V against the unquantized rotated q.
  if (split == 0 && sink_n > 0) {
    const float* k_sink = args.k.sink + static_cast<int64_t>(group) * S * D;
    const float* v_sink = args.v.sink + static_cast<int64_t>(group) * S * D;
    for (int e = threadIdx.x; e < rows * sink_n; e += kDecodeThreads) {
      const int r = e / sink_n, t = e % sink_n;
      float x = -INFINITY;
      if (t <= smem.last_key[r]) {
        float dot = 0.f;
        for (int d = 0; d < D; ++d) dot = fmaf(smem.q_rot[r * D + d], k_sink[t * D + d], dot);
        x = dot * args.sm_scale_log2;
      }
      smem.scores[r * smem.score_stride + t] = x;
    }
    __syncthreads();
    if (softmax_chunk(c, sink_n)) {
      for (int e = threadIdx.x; e < rows * D; e += kDecodeThreads) {
        const int r = e / D, d = e % D;
        float acc = smem.o_acc[e];
        for (int t = 0; t < sink_n; ++t) {
          const float p = smem.scores[r * smem.score_stride + t];
          if (p != 0.f) acc = fmaf(p, v_sink[t * D + d], acc);
        }
        smem.o_acc[e] = acc;
      }
      __syncthreads();
    }
  }

  // Pages of this split. With prefetch, page p+1's K words are loaded right after page p's K is in shared memory and
  // its V words right after page p's V is: the loads overlap the logits, softmax and P·V of page p.
  const int first_page = split * args.pages_per_split;
  const int last_page = min(pages, first_page + args.pages_per_split);
  const int64_t table_row = static_cast<int64_t>(group) * args.max_pages;
  const bool prefetch = page_words(8, T, D) <= kPrefetchWords * kDecodeThreads;  // the widest page fits: block-uniform
  PageWords k_next, v_next;
  PageRef k_ref{}, v_ref{};
  if (first_page < last_page) {
    k_ref = page_ref(args.k, table_row + first_page);
    v_ref = page_ref(args.v, table_row + first_page);
    if (prefetch) {
      load_page_words(k_next, k_ref.pool, k_ref.slot, k_ref.bits, T, D);
      load_page_words(v_next, v_ref.pool, v_ref.slot, v_ref.bits, D, T);
    }
  }
  for (int page = first_page; page < last_page; ++page) {
    const bool more = page + 1 < last_page;
    const PageRef k_page = k_ref, v_page = v_ref;
    if (more) {
      k_ref = page_ref(args.k, table_row + page + 1);
      v_ref = page_ref(args.v, table_row + page + 1);
    }
    if (prefetch) {
      store_page_words(smem.k_int8, decode_k_stride(D), k_next, k_page.pool, k_page.slot, k_page.bits, T, D);
      if (more) load_page_words(k_next, k_ref.pool, k_ref.slot, k_ref.bits, T, D);
    } else {
      decompress_page(smem.k_int8, decode_k_stride(D), k_page.pool, k_page.slot, k_page.bits, T, D);
    }
    __syncthreads();
    const bool k_per_token = k_page.bits == 8;
    logits_int8(c, T, S + page * T, k_page.pool.scales + static_cast<int64_t>(k_page.slot) * (k_per_token ? T : 1), k_per_token ? 1 : 0);
    const bool live = softmax_chunk(c, T);
    if (prefetch) {
      // A skipped page still moves the V pipeline on: its words are dropped and the next page's loaded.
      if (live) store_page_words(smem.v_int8, decode_v_stride(T), v_next, v_page.pool, v_page.slot, v_page.bits, D, T);
      if (more) load_page_words(v_next, v_ref.pool, v_ref.slot, v_ref.bits, D, T);
    } else if (live) {
      decompress_page(smem.v_int8, decode_v_stride(T), v_page.pool, v_page.slot, v_page.bits, D, T);
    }
    if (!live) continue;
    __syncthreads();
    const bool v_per_token = v_page.bits == 8;
    pv_int8(c, T, v_page.pool.scales + static_cast<int64_t>(v_page.slot) * (v_per_token ? T : 1), v_per_token ? 1 : 0);
  }

  // The INT8 buffer (the newest tokens), token-major for K and V: V is transposed to channel-major on the way in.
  if (split == splits - 1 && buffer_n > 0) {
    const int8_t* k_codes = args.k.buffer_codes + static_cast<int64_t>(group) * T * D;
    const int8_t* v_codes = args.v.buffer_codes + static_cast<int64_t>(group) * T * D;
    const int words_per_row = D / 4, k_stride = decode_k_stride(D);
    for (int w = threadIdx.x; w < buffer_n * words_per_row; w += kDecodeThreads) {
      const int t = w / words_per_row, word = w % words_per_row;
      reinterpret_cast<int32_t*>(smem.k_int8 + t * k_stride)[word] = reinterpret_cast<const int32_t*>(k_codes)[w];
    }
    __syncthreads();
    logits_int8(c, buffer_n, S + pages * T, args.k.buffer_scales + static_cast<int64_t>(group) * T, 1);
    if (softmax_chunk(c, buffer_n)) {
      for (int e = threadIdx.x; e < D * T; e += kDecodeThreads) {
        const int d = e / T, t = e % T;
        smem.v_int8[d * decode_v_stride(T) + t] = t < buffer_n ? v_codes[t * D + d] : 0;
      }
      __syncthreads();
      pv_int8(c, buffer_n, args.v.buffer_scales + static_cast<int64_t>(group) * T, 1);
    }
  }

  // The split's state: O / l and lse₂ = m + log2 l (base 2; the combine converts).
  const int64_t state_row0 = (static_cast<int64_t>(group) * args.max_splits + split) * rows_total + row0;
  for (int e = threadIdx.x; e < rows * D; e += kDecodeThreads) {
    const int r = e / D;
    const float l = smem.row_sum[r];
    args.partial_out[state_row0 * D + e] = l > 0.f ? smem.o_acc[e] / l : 0.f;
  }
  for (int r = threadIdx.x; r < rows; r += kDecodeThreads) {
    const float l = smem.row_sum[r];
    args.partial_lse[state_row0 + r] = l > 0.f ? smem.row_max[r] + log2f(l) : -INFINITY;
  }
}

// One CTA per (sequence, kv head, row): lse = log Σ e^lse_s, out = Σ out_s·e^(lse_s − lse), then un-rotated.
__global__ void __launch_bounds__(kDecodeThreads) decode_combine_kernel(const DecodeArgs args) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* row = reinterpret_cast<float*>(smem_raw);  // [headDim]
  __shared__ float weights[kDecodeMaxCombineSplits];
  __shared__ float lse_shared;
  const int group_size = args.heads / args.kv_heads;
  const int rows_total = group_size * args.query_tokens;
  const int r = blockIdx.x % rows_total;
  const int group = blockIdx.x / rows_total;
  const int b = group / args.kv_heads, g = group % args.kv_heads;
  const int D = args.head_dim;
  const int length = args.lengths[b];
  const int pages = max(0, length - args.sink_tokens) / args.page_size;
  const int splits = min(args.max_splits, max(1, (pages + args.pages_per_split - 1) / args.pages_per_split));
  const float* lse = args.partial_lse + static_cast<int64_t>(group) * args.max_splits * rows_total + r;
  if (threadIdx.x < 32) {
    float m = -INFINITY;
    for (int s = threadIdx.x; s < splits; s += 32) m = fmaxf(m, lse[static_cast<int64_t>(s) * rows_total]);
    m = warp_max(m);
    float sum = 0.f;
    for (int s = threadIdx.x; s < splits; s += 32) {
      const float w = m == -INFINITY ? 0.f : exp2f(lse[static_cast<int64_t>(s) * rows_total] - m);
      weights[s] = w;
      sum += w;
    }
    sum = warp_sum(sum);
    __syncwarp();  // lane 0 reads every lane's weights[s]: the shuffles order registers, not shared memory
    if (threadIdx.x == 0) {
      lse_shared = sum > 0.f ? (m + log2f(sum)) * 0.69314718055994531f : -INFINITY;
      for (int s = 0; s < splits; ++s) weights[s] = sum > 0.f ? weights[s] / sum : 0.f;
    }
  }
  __syncthreads();
  const float* out = args.partial_out + static_cast<int64_t>(group) * args.max_splits * rows_total * D + static_cast<int64_t>(r) * D;
  for (int d = threadIdx.x; d < D; d += kDecodeThreads) {
    float acc = 0.f;
    for (int s = 0; s < splits; ++s) {
      const float w = weights[s];
      if (w != 0.f) acc = fmaf(w, out[static_cast<int64_t>(s) * rows_total * D + d], acc);
    }
    row[d] = acc;
  }
  __syncthreads();
  if (args.rotation_signs) {
    if (threadIdx.x < 32) warp_walsh_hadamard(row, D, threadIdx.x);
    __syncthreads();
  }
  const int h = g * group_size + r / args.query_tokens;
  const int i = r % args.query_tokens;
  const int64_t out_row = static_cast<int64_t>(b * args.heads + h) * args.query_tokens + i;
  const float norm = args.rotation_signs ? rsqrtf(static_cast<float>(D)) : 1.f;
  for (int d = threadIdx.x; d < D; d += kDecodeThreads) {
    args.out[out_row * D + d] = args.rotation_signs ? row[d] * args.rotation_signs[d] * norm : row[d];
  }
  if (threadIdx.x == 0 && args.lse != nullptr) args.lse[out_row] = lse_shared;
}

const char* fail(const std::string& what) {
  thread_local std::string message;
  message = "turbo-attn decode launcher: " + what;
  return message.c_str();
}

const char* cuda_fail(const char* call, cudaError_t status) {
  cudaGetLastError();
  return fail(std::string(call) + " failed: " + cudaGetErrorString(status));
}

}  // namespace
}  // namespace qattn

extern "C" const char* qattn_turbo_decode_launch(const void* raw_args, size_t args_bytes, void* raw_stream) {
  using namespace qattn;
  if (args_bytes != sizeof(DecodeArgs)) {
    return fail("argument block of " + std::to_string(args_bytes) + " bytes, expected " + std::to_string(sizeof(DecodeArgs)) +
                " (addon and JS out of sync: rebuild)");
  }
  const auto& args = *static_cast<const DecodeArgs*>(raw_args);
  if (const char* invalid = decode_args_invalid(args)) return fail(invalid);
  auto stream = static_cast<cudaStream_t>(raw_stream);
  if (args.path == kDecodePathMma) {
    // One launch: the split kernel's last CTA per row tile merges the splits (decode_paged_mma.cu combine_tile).
    if (!decode_mma_supported(args)) return fail("the tensor-core path does not serve this shape (decode_mma_supported)");
    if (const char* error = decode_mma_launch(args, stream)) return fail(std::string("decode_split_mma_kernel: ") + error);
    return nullptr;
  } else {
    const int smem = decode_smem_bytes(args.rows_per_tile, args.head_dim, args.page_size, args.sink_tokens);
    // Only when the limit must grow: the largest layout seen so far serves every smaller one (no driver call per step).
    static std::atomic<int> smem_limit{0};
    if (smem > 48 * 1024 && smem > smem_limit.load(std::memory_order_acquire)) {
      const cudaError_t status = cudaFuncSetAttribute(decode_split_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      if (status != cudaSuccess) return cuda_fail("cudaFuncSetAttribute(decode_split_kernel)", status);
      smem_limit.store(smem, std::memory_order_release);
    }
    const dim3 grid(args.max_splits, args.kv_heads * args.row_tiles, args.batch);
    decode_split_kernel<<<grid, kDecodeThreads, smem, stream>>>(args);
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) return cuda_fail("decode_split_kernel", status);
  }
  const int rows_total = args.heads / args.kv_heads * args.query_tokens;
  decode_combine_kernel<<<args.batch * args.kv_heads * rows_total, kDecodeThreads, args.head_dim * sizeof(float), stream>>>(args);
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) return cuda_fail("decode_combine_kernel", status);
  return nullptr;
}
