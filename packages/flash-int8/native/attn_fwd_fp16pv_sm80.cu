// flash-int8's attention kernels with fp16 P·V (pv: 'fp16'): IntFlashVariant for every head dim of capabilities.json,
// on the sm90a kernel where arch_dispatch.cuh picks it (9.0: hd64 and hd128) and the sm80 kernel elsewhere.
#include "flash_int8_kernels.h"
#include "qattn/arch_dispatch.cuh"

namespace qattn {

cudaError_t flash_int8_attention_fp16_pv(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream) {
  return launch_attention<IntFlashVariant, PvPrecision::kFp16>(args, path, stream);
}

}  // namespace qattn
