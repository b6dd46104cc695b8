// The C launcher of flash-int8 (qattn_launch_fn, @qattn/cuda-runtime's launch ABI): the shared launcher body with
// flash-int8's variant — exact exp2, K per key (per token or a block's scale per key), INT8 or fp16 P·V.
// Also compiles the quantization kernels of flash-int8's head dims.
#include "flash_int8_kernels.h"
#include "qattn/attention_launcher.cuh"

namespace {

const char* check_flash_int8(const qattn::AttentionArgs& args) {
  if (args.exponent != qattn::kExponentExp2) return "flash-int8 compiles only the exact exp2 exponent";
  return qattn::IntFlashVariant::check(args);
}

cudaError_t flash_int8_attention(const qattn::AttentionArgs& args, qattn::AttentionArchPath path, cudaStream_t stream) {
  return args.pv_fp16 ? qattn::flash_int8_attention_fp16_pv(args, path, stream)
                      : qattn::flash_int8_attention_int8_pv(args, path, stream);
}

constexpr qattn::AttentionKernelEntry kFlashInt8Entry{"flash-int8", check_flash_int8, flash_int8_attention};

}  // namespace

extern "C" const char* qattn_flash_int8_launch(const void* args, size_t args_bytes, void* stream) {
  return qattn::run_attention_launch(kFlashInt8Entry, args, args_bytes, stream);
}
