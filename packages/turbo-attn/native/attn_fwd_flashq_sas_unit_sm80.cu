// turbo-attn's attention kernels with SAS's sparsity and the exponent unit's 2^x (FlashQSasUnitVariant) for every
// head dim and key block of capabilities.json: the SAS the sm80 path runs by default (see SasUnitExponent); the sm90a
// kernel serves it too, at its head dims.
#include "qattn/arch_dispatch.cuh"
#include "turbo_attn_kernels.h"

namespace qattn {

cudaError_t turbo_attention_sas_unit(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream) {
  return launch_attention<FlashQSasUnitVariant, PvPrecision::kInt8>(args, path, stream);
}

}  // namespace qattn
