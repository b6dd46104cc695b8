// The C launcher of flash-int8 (qattn_launch_fn, @qattn/cuda-runtime's launch ABI): quantization and/or attention
// of one call, enqueued on the runtime's stream. Never synchronizes and never allocates.
#include <cuda_runtime.h>

#include <string>

#include "flash_int8_args.h"
#include "qattn/launch_abi.h"

namespace qattn {
cudaError_t launch_quantize_per_token(const FlashInt8Args& args, cudaStream_t stream);
cudaError_t launch_attn_fwd_int8_sm80(const FlashInt8Args& args, cudaStream_t stream);
}  // namespace qattn

namespace {

thread_local std::string last_error;

const char* describe(const char* call, cudaError_t status) {
  last_error = std::string(call) + " failed: " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + " = " +
               std::to_string(static_cast<int>(status)) + ")";
  cudaGetLastError();
  return last_error.c_str();
}

}  // namespace

extern "C" const char* qattn_flash_int8_launch(const void* raw_args, size_t args_bytes, void* raw_stream) {
  if (args_bytes != sizeof(qattn::FlashInt8Args)) {
    last_error = "flash-int8 launcher: argument block of " + std::to_string(args_bytes) + " bytes, expected " +
                 std::to_string(sizeof(qattn::FlashInt8Args)) + " (addon and JS out of sync: rebuild)";
    return last_error.c_str();
  }
  const auto& args = *static_cast<const qattn::FlashInt8Args*>(raw_args);
  auto stream = static_cast<cudaStream_t>(raw_stream);
  if (args.stages & qattn::kStageQuantize) {
    cudaError_t status = qattn::launch_quantize_per_token(args, stream);
    if (status != cudaSuccess) return describe("flash-int8 quantize_per_token kernels", status);
  }
  if (args.stages & qattn::kStageAttention) {
    cudaError_t status = qattn::launch_attn_fwd_int8_sm80(args, stream);
    if (status != cudaSuccess) return describe("flash-int8 attn_fwd_int8_sm80 kernel", status);
  }
  return nullptr;
}
