// flash-int8's attention entries: the INT-FlashAttention variant (exact exp2, per-key K scales) of the shared sm80
// skeleton, one translation unit per P·V precision so the two compile in parallel.
#pragma once

#include <cuda_runtime.h>

#include "qattn/arch_path.h"
#include "qattn/attention_args.h"

namespace qattn {

// INT8 P·V (P codes up to pCodeMax per row and key block, V per (key block, channel)): attn_fwd_int8_sm80.cu.
cudaError_t flash_int8_attention_int8_pv(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream);
// fp16 P·V (INT-FA's "half" variant): attn_fwd_fp16pv_sm80.cu.
cudaError_t flash_int8_attention_fp16_pv(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream);

}  // namespace qattn
