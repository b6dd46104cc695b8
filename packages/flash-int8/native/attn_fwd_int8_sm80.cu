// flash-int8's attention kernels with INT8 P·V: IntFlashVariant for every head dim and key block of capabilities.json,
// on the sm80 kernel and, at the head dims tile_config_sm90 serves, the sm90a kernel (arch_dispatch.cuh picks).
#include "flash_int8_kernels.h"
#include "qattn/arch_dispatch.cuh"

namespace qattn {

cudaError_t flash_int8_attention_int8_pv(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream) {
  return launch_attention<IntFlashVariant, PvPrecision::kInt8>(args, path, stream);
}

}  // namespace qattn
