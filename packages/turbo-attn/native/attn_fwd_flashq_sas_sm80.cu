// turbo-attn's attention kernels with the SAS exponent: FlashQSasVariant for every head dim and key block of
// capabilities.json, on the sm80 kernel and, at the head dims tile_config_sm90 serves, the sm90a kernel (where the
// polynomial is the default: chooseSasEvaluation).
#include "qattn/arch_dispatch.cuh"
#include "turbo_attn_kernels.h"

namespace qattn {

cudaError_t turbo_attention_sas(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream) {
  return launch_attention<FlashQSasVariant, PvPrecision::kInt8>(args, path, stream);
}

}  // namespace qattn
