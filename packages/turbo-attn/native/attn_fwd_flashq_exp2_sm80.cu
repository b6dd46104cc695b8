// turbo-attn's attention kernels with exact exp2 (sas: false): FlashQExp2Variant for every head dim and key block of
// capabilities.json, on the sm80 kernel and, at the head dims tile_config_sm90 serves, the sm90a kernel.
#include "qattn/arch_dispatch.cuh"
#include "turbo_attn_kernels.h"

namespace qattn {

cudaError_t turbo_attention_exp2(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream) {
  return launch_attention<FlashQExp2Variant, PvPrecision::kInt8>(args, path, stream);
}

}  // namespace qattn
