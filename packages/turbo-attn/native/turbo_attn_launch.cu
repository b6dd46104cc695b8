// The C launchers of turbo-attn (qattn_launch_fn, @qattn/cuda-runtime's launch ABI): the shared launcher body with
// the FlashQ variants — SAS or exact exp2, K per key block, INT8 P·V — and the SAS probe used by the GPU tests.
// Also compiles the quantization kernels of turbo-attn's head dims.
#include <string>

#include "qattn/attention_launcher.cuh"
#include "qattn/sas_exp2.cuh"
#include "sas_probe.h"
#include "turbo_attn_kernels.h"

namespace {

const char* check_turbo(const qattn::AttentionArgs& args) {
  if (args.pv_fp16) return "turbo-attn compiles only INT8 P·V";
  switch (args.exponent) {
    case qattn::kExponentSas:
      return qattn::FlashQSasVariant::check(args);
    case qattn::kExponentSasUnit:
      return qattn::FlashQSasUnitVariant::check(args);
    default:
      return qattn::FlashQExp2Variant::check(args);
  }
}

cudaError_t turbo_attention(const qattn::AttentionArgs& args, qattn::AttentionArchPath path, cudaStream_t stream) {
  switch (args.exponent) {
    case qattn::kExponentSas:
      return qattn::turbo_attention_sas(args, path, stream);
    case qattn::kExponentSasUnit:
      return qattn::turbo_attention_sas_unit(args, path, stream);
    default:
      return qattn::turbo_attention_exp2(args, path, stream);
  }
}

constexpr qattn::AttentionKernelEntry kTurboEntry{"turbo-attn", check_turbo, turbo_attention};

__global__ void sas_probe_kernel(const qattn::SasProbeArgs args) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < args.count) args.out[i] = qattn::sas_exp2(args.x[i], args.threshold);
}

}  // namespace

extern "C" const char* qattn_turbo_attn_launch(const void* args, size_t args_bytes, void* stream) {
  return qattn::run_attention_launch(kTurboEntry, args, args_bytes, stream);
}

extern "C" const char* qattn_turbo_sas_probe_launch(const void* raw_args, size_t args_bytes, void* raw_stream) {
  thread_local std::string message;
  if (args_bytes != sizeof(qattn::SasProbeArgs)) {
    message = "turbo-attn SAS probe: argument block of " + std::to_string(args_bytes) + " bytes, expected " +
              std::to_string(sizeof(qattn::SasProbeArgs));
    return message.c_str();
  }
  const auto& args = *static_cast<const qattn::SasProbeArgs*>(raw_args);
  if (args.count <= 0) return nullptr;
  sas_probe_kernel<<<(args.count + 255) / 256, 256, 0, static_cast<cudaStream_t>(raw_stream)>>>(args);
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return nullptr;
  message = std::string("turbo-attn SAS probe kernel failed: ") + cudaGetErrorString(status);
  return message.c_str();
}
