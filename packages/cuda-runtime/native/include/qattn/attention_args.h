// The argument block of every attention kernel addon (flash-int8, turbo-attn): one plain struct, packed from JS by
// the addon glue (attention_addon.h) and handed to the package's qattn_launch_fn (launch_abi.h).
// Layouts (row-major; "pad" = padded to tile_config.h's kSeqQPad / kSeqKVPad with zero rows):
//   q, out        [batch, heads, seq_q, head_dim] fp32
//   k, v          [batch, kv_heads, seq_kv, head_dim] fp32
//   q_int8        [batch, heads, seq_q_pad, head_dim] s8,   q_scale [batch, heads, seq_q_pad] fp32: one scale per row
//                 (a block's scale repeated over its q_rows_per_scale rows)
//   k_int8        [batch, kv_heads, seq_kv_pad, head_dim] s8 (K − mean when smooth_k)
//   k_scale       [batch, kv_heads, seq_kv_pad, 2] fp32 dequantization pairs (scale, −kMagic·scale), see mma_sm80.cuh;
//                 one pair per key (a block's pair repeated over its k_rows_per_scale keys)
//   v_t           [batch, kv_heads, head_dim, seq_kv_pad]: V transposed, s8 with keys permuted inside each group of 32
//                 (see quantize_qkv.cuh) or fp16 in key order when pv_fp16
//   v_scale       [batch, kv_heads, seq_kv_pad / key_block, head_dim, 2] fp32 dequantization pairs per key block and
//                 channel (one value over the channels when v_scale_per_block; unused for fp16)
//   k_mean/v_mean [batch, kv_heads, head_dim] fp32, stat_partial [2, batch, kv_heads, stat_splits, head_dim] fp32
// The attention variant (attention_variant.cuh) is a compile-time type chosen by the package's launcher from
// `exponent`; every other difference between INT-FlashAttention and FlashQ is a runtime field below.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qattn {

enum AttentionStage : int32_t { kStageQuantize = 1, kStageAttention = 2 };

// The softmax exponent of the attention kernel: exact exp2 (ex2.approx), TurboAttention's SAS with its fp16
// polynomial, or SAS's sparsity (threshold, exact zeros, tile skip) with 2^x from the exponent unit (ex2.approx):
// the faster SAS where issue slots, not the exponent unit, limit the kernel (the sm80 mma.sync kernel).
enum AttentionExponent : int32_t { kExponentExp2 = 0, kExponentSas = 1, kExponentSasUnit = 2 };

struct AttentionArgs {
  const float* q;
  const float* k;
  const float* v;
  float* out;
  int8_t* q_int8;
  float* q_scale;
  int8_t* k_int8;
  float* k_scale;
  void* v_t;
  float* v_scale;
  float* k_mean;
  float* v_mean;
  float* stat_partial;
  int32_t batch, heads, kv_heads, seq_q, seq_kv, head_dim;
  int32_t seq_q_pad, seq_kv_pad, stat_splits;
  float sm_scale_log2;  // softmax scale · log2(e), folded into the Q scales inside the kernel
  float p_code_max;     // largest P code, 127 or 255: P is quantized to unsigned codes [0, p_code_max]
  float p_code_unit;    // 1 / p_code_max (folded on the host)
  int32_t causal, pv_fp16, p_rowmax, smooth_k, smooth_v;
  int32_t key_block;         // keys per P-rowmax block and per V scale block: 32 or 64 (the oracle's blockN)
  int32_t q_rows_per_scale;  // queries per Q scale: 1 = per token, else per block of that many rows
  int32_t k_rows_per_scale;  // keys per K scale: 1 = per token, else per block of that many keys
  int32_t v_scale_per_block; // 1: one V scale per key block over all channels (FlashQ's 'block'); 0: per channel
  int32_t exponent;          // AttentionExponent
  float sas_threshold;       // SAS: a score more than this below its row's running max (base 2) gives exactly 0
  int32_t skip_sparse_tiles; // SAS: skip P and P·V of key tiles whose P is all 0 (exact; 0 only in tests)
  int32_t stages;            // AttentionStage bits
};

// A device-resident call packs the block once per plan and then patches only the caller's tensors, at these offsets
// (src/attention-plan.ts ATTENTION_ARGS_IO_OFFSETS), instead of packing ~40 fields through Node-API on every call.
static_assert(offsetof(AttentionArgs, q) == 0 && offsetof(AttentionArgs, k) == 8 && offsetof(AttentionArgs, v) == 16 &&
                  offsetof(AttentionArgs, out) == 24,
              "q, k, v and out lead AttentionArgs: TypeScript patches them in a packed block");

// Tokens of one channel-statistics split (K/V means for smoothing).
constexpr int kStatTokensPerSplit = 512;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

}  // namespace qattn
