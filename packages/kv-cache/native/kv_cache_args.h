// The argument blocks of @qattn/kv-cache's launchers (qattn_launch_fn, @qattn/cuda-runtime's launch ABI), packed by
// the addon (kv_cache_addon.cc) from the fields src/cuda/addon.ts names. Plain C structs: the runtime copies them
// byte for byte onto its queue thread. Every pointer is a device address handed out by the runtime; layouts are
// those of src/cuda/device-storage.ts (the CPU cache's KVCacheStorage, src/layout.ts).
#pragma once

#include <cstdint>

namespace qattn {

// Tokens of one (sequence, kv head) quantized by one CTA of the append's first kernel. Its K sums are one partial
// of the running K mean; the commit kernel adds the partials in chunk order, so the mean does not depend on timing.
constexpr int kAppendChunkTokens = 64;

// One page pool of a width (PagePoolStorage): codes [slots, wordsPerPage] (int32 words), step/zero [slots, meta],
// scales [slots, scalesPerPage]. Null when the cache has no pool of that width.
struct KVPoolPtrs {
  uint32_t* codes;
  uint8_t* step;
  int8_t* zero;
  float* scales;
};

// One tensor (K or V): its storage, the append's input and its staging rows.
struct KVTensorPtrs {
  float* sink;            // [batch, kvHeads, sinkTokens, headDim]
  int8_t* buffer_codes;   // [batch, kvHeads, pageSize, headDim]
  float* buffer_scales;   // [batch, kvHeads, pageSize]
  int32_t* page_table;    // [batch, kvHeads, maxPages]
  uint8_t* page_bits;     // [batch, kvHeads, maxPages]
  KVPoolPtrs pool8;
  KVPoolPtrs pool4;
  KVPoolPtrs pool2;
  const float* input;     // [entries, kvHeads, tokens, headDim], float32, not rotated
  int8_t* stage_codes;    // [entries, kvHeads, tokens, headDim]: every new token as a per-token INT8 row
  float* stage_scales;    // [entries, kvHeads, tokens]
  float* stage_sink;      // [entries, kvHeads, sinkTokens, headDim]: new sink rows (rotated, float32)
  int32_t low_heads;      // kv heads of each page stored at 2 bits (bits 4 caches), lowest priority first
  int32_t channel_major;  // 1 for V: pages are [headDim, pageSize]
};

// append(k, v): quantize (staging, ungated) → compress the pages that fill → commit (sink, buffer, kMean, lengths).
// The last two kernels return at once when *status != 0, so a rejected append writes nothing the cache holds.
//
// plan (int32, uploaded with the append):
//   [2·e, 2·e + 1]                     entry e: sequence b, its length before the append
//   [2·entries + j·(3 + 2·kvHeads) …]   page job j: entry, page index, 0, then kvHeads K slots and kvHeads V slots;
//                                       each tensor's slots are the (kvHeads − low) slots of the wide pool (8 or 4
//                                       bits) in allocation order, then the low 2-bit ones
struct KVAppendArgs {
  KVTensorPtrs k;
  KVTensorPtrs v;
  int32_t* lengths;       // [batch]
  float* k_mean;          // [batch, kvHeads, headDim]
  const float* signs;     // [headDim] rotation signs, null: no rotation
  double* k_partial;      // [entries, kvHeads, chunks, headDim]: Σ of the chunk's rotated K rows
  int32_t* status;        // [1]: set non-zero by the quantize kernel on a non-finite input when check_finite
  const int32_t* plan;
  int32_t batch;
  int32_t kv_heads;
  int32_t head_dim;
  int32_t page_size;
  int32_t sink_tokens;
  int32_t max_pages;
  int32_t bits;           // 8 or 4
  int32_t entries;        // sequences appended to
  int32_t tokens;         // tokens per sequence
  int32_t chunks;         // ⌈tokens / kAppendChunkTokens⌉
  int32_t jobs;           // pages to compress
  int32_t check_finite;   // device inputs: scan for NaN/±Inf into *status
};

// clear(sequence?): lengths 0, K means 0, page-table rows −1 / bits 0 (the host returns the slots to its free lists).
struct KVClearArgs {
  int32_t* lengths;
  float* k_mean;
  int32_t* k_page_table;
  uint8_t* k_page_bits;
  int32_t* v_page_table;
  uint8_t* v_page_bits;
  int32_t sequence;       // −1: every sequence
  int32_t batch;
  int32_t kv_heads;
  int32_t head_dim;
  int32_t max_pages;
  int32_t pad;
};

// Page-table growth: rows of old_max entries copied into rows of new_max, the new entries −1 / 0.
struct KVRelayoutArgs {
  const int32_t* old_table;
  const uint8_t* old_bits;
  int32_t* new_table;
  uint8_t* new_bits;
  int32_t groups;         // batch · kvHeads
  int32_t old_max;
  int32_t new_max;
  int32_t pad;
};

}  // namespace qattn
