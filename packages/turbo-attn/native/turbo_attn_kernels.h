// turbo-attn's attention entries: FlashQ (K scales per key block, P codes per row and key block) on the shared sm80
// skeleton, one translation unit per exponent so the two compile in parallel.
#pragma once

#include <cuda_runtime.h>

#include "qattn/arch_path.h"
#include "qattn/attention_args.h"

namespace qattn {

// SAS exponent with the all-zero tile skip (sas: true): attn_fwd_flashq_sas_sm80.cu.
cudaError_t turbo_attention_sas(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream);
// SAS's sparsity with the exponent unit's 2^x (the sm80 kernel's SAS): attn_fwd_flashq_sas_unit_sm80.cu.
cudaError_t turbo_attention_sas_unit(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream);
// Exact exp2 (sas: false): attn_fwd_flashq_exp2_sm80.cu.
cudaError_t turbo_attention_exp2(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream);

}  // namespace qattn
