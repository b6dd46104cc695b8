// The argument block of turbo-attn's split-KV decode over a paged KV cache (@qattn/kv-cache's layout.ts, on the device
// as CudaKVCacheStorage). Packed by TypeScript (src/decode/cuda/args.ts) at the offsets the addon exports
// (decodeArgsLayout), so the field list below is the single source of both sides.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qattn {

// Pools by width: index 0 = INT8 pages, 1 = INT4, 2 = INT2 (null pointers where the cache has no such pool).
constexpr int kDecodePools = 3;
constexpr int kDecodeThreads = 128;
// Query rows (query heads of one kv head × query tokens) one CTA serves; more rows take more row tiles.
constexpr int kDecodeMaxRowsPerTile = 16;
// Which split kernel runs: dp4a on CUDA cores (any shape), or tensor cores (decode_mma.h's shapes).
constexpr int kDecodePathSimt = 0;
constexpr int kDecodePathMma = 1;

struct DecodePoolArgs {
  const int32_t* codes;   // [slots, wordsPerPage]
  const uint8_t* step;    // [slots, metaPerPage]
  const int8_t* zero;     // [slots, metaPerPage]
  const float* scales;    // [slots, scalesPerPage]
  int32_t slots;          // pages the pool holds (the extent of the TMA tensor maps over its codes)
};

struct DecodeTensorArgs {
  const float* sink;            // [batch, kvHeads, sinkTokens, headDim]
  const int8_t* buffer_codes;   // [batch, kvHeads, pageSize, headDim]
  const float* buffer_scales;   // [batch, kvHeads, pageSize]
  const int32_t* page_table;    // [batch, kvHeads, maxPages]
  const uint8_t* page_bits;     // [batch, kvHeads, maxPages]
  DecodePoolArgs pools[kDecodePools];
};

struct DecodeArgs {
  const float* q;               // [batch, heads, queryTokens, headDim]
  float* out;                   // [batch, heads, queryTokens, headDim]
  float* lse;                   // [batch, heads, queryTokens] natural log
  float* partial_out;           // [batch, kvHeads, maxSplits, rows, headDim] (rotated, normalized)
  float* partial_lse;           // [batch, kvHeads, maxSplits, rows] base 2
  int32_t* combine_counters;    // [batch, kvHeads, rowTiles], zero between launches: the tensor-core path's fused combine
  const int32_t* lengths;       // [batch]
  const float* k_mean;          // [batch, kvHeads, headDim]
  const float* rotation_signs;  // [headDim] or null
  DecodeTensorArgs k;
  DecodeTensorArgs v;
  int32_t batch, heads, kv_heads, query_tokens, head_dim, page_size, sink_tokens, max_pages;
  int32_t rows_per_tile, row_tiles, max_splits, pages_per_split, exponent, skip_sparse_tiles;
  int32_t path;                 // kDecodePathSimt or kDecodePathMma (decode_mma.h decides which shapes the latter serves)
  float sm_scale_log2, sas_threshold;
};

// X(name, kind, member): kind 'p' pointer (u64), 'i' int32, 'f' float32.
#define QATTN_DECODE_TENSOR_FIELDS(X, prefix, t)                                                             \
  X(prefix "Sink", 'p', t.sink) X(prefix "BufferCodes", 'p', t.buffer_codes)                               \
  X(prefix "BufferScales", 'p', t.buffer_scales) X(prefix "PageTable", 'p', t.page_table)                  \
  X(prefix "PageBits", 'p', t.page_bits)                                                                    \
  X(prefix "Pool8Codes", 'p', t.pools[0].codes) X(prefix "Pool8Step", 'p', t.pools[0].step)                 \
  X(prefix "Pool8Zero", 'p', t.pools[0].zero) X(prefix "Pool8Scales", 'p', t.pools[0].scales) X(prefix "Pool8Slots", 'i', t.pools[0].slots)              \
  X(prefix "Pool4Codes", 'p', t.pools[1].codes) X(prefix "Pool4Step", 'p', t.pools[1].step)                 \
  X(prefix "Pool4Zero", 'p', t.pools[1].zero) X(prefix "Pool4Scales", 'p', t.pools[1].scales) X(prefix "Pool4Slots", 'i', t.pools[1].slots)              \
  X(prefix "Pool2Codes", 'p', t.pools[2].codes) X(prefix "Pool2Step", 'p', t.pools[2].step)                 \
  X(prefix "Pool2Zero", 'p', t.pools[2].zero) X(prefix "Pool2Scales", 'p', t.pools[2].scales) X(prefix "Pool2Slots", 'i', t.pools[2].slots)

#define QATTN_DECODE_ARG_FIELDS(X)                                                                            \
  X("q", 'p', q) X("out", 'p', out) X("lse", 'p', lse) X("partialOut", 'p', partial_out)                     \
  X("partialLse", 'p', partial_lse) X("combineCounters", 'p', combine_counters) X("lengths", 'p', lengths)     \
  X("kMean", 'p', k_mean)                                                                                     \
  X("rotationSigns", 'p', rotation_signs)                                                                     \
  QATTN_DECODE_TENSOR_FIELDS(X, "k", k) QATTN_DECODE_TENSOR_FIELDS(X, "v", v)                                \
  X("batch", 'i', batch) X("heads", 'i', heads) X("kvHeads", 'i', kv_heads)                                  \
  X("queryTokens", 'i', query_tokens) X("headDim", 'i', head_dim) X("pageSize", 'i', page_size)              \
  X("sinkTokens", 'i', sink_tokens) X("maxPages", 'i', max_pages) X("rowsPerTile", 'i', rows_per_tile)       \
  X("rowTiles", 'i', row_tiles) X("maxSplits", 'i', max_splits) X("pagesPerSplit", 'i', pages_per_split)     \
  X("exponent", 'i', exponent) X("skipSparseTiles", 'i', skip_sparse_tiles) X("path", 'i', path)             \
  X("smScaleLog2", 'f', sm_scale_log2) X("sasThreshold", 'f', sas_threshold)

}  // namespace qattn

extern "C" const char* qattn_turbo_decode_launch(const void* args, size_t args_bytes, void* stream);
