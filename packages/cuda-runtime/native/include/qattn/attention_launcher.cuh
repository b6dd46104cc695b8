// The body of every attention package's C launcher (a qattn_launch_fn, launch_abi.h): checks the argument block,
// picks the kernel path (arch_dispatch.cuh), then enqueues quantization and/or attention on the runtime's stream.
// Never synchronizes and never allocates. Include it in exactly one translation unit of a package (it compiles the
// quantization kernels of the package's head dims).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "qattn/arch_dispatch.cuh"
#include "qattn/attention_args.h"
#include "qattn/quantize_qkv.cuh"

namespace qattn {

// What a package plugs into the shared launcher: its name and its attention entry (variant and P·V precision
// chosen from the argument block; an unsupported combination returns a message through `check`).
struct AttentionKernelEntry {
  const char* package;                                          // "flash-int8", names the launcher in errors
  const char* (*check)(const AttentionArgs& args);               // nullptr result: the package has a kernel for args
  cudaError_t (*attention)(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream);
};

namespace launcher_detail {

inline std::string& last_error() {
  thread_local std::string message;
  return message;
}

inline const char* fail(const AttentionKernelEntry& entry, const std::string& what) {
  last_error() = std::string(entry.package) + " launcher: " + what;
  return last_error().c_str();
}

inline const char* describe(const AttentionKernelEntry& entry, const char* call, cudaError_t status) {
  cudaGetLastError();
  return fail(entry, std::string(call) + " failed: " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) +
                         " = " + std::to_string(static_cast<int>(status)) + ")");
}

}  // namespace launcher_detail

// Returns nullptr on success, else a message valid until the next call on this thread.
inline const char* run_attention_launch(const AttentionKernelEntry& entry, const void* raw_args, size_t args_bytes,
                                        void* raw_stream) {
  if (args_bytes != sizeof(AttentionArgs)) {
    return launcher_detail::fail(entry, "argument block of " + std::to_string(args_bytes) + " bytes, expected " +
                                            std::to_string(sizeof(AttentionArgs)) + " (addon and JS out of sync: rebuild)");
  }
  const auto& args = *static_cast<const AttentionArgs*>(raw_args);
  auto stream = static_cast<cudaStream_t>(raw_stream);
  if (const char* unsupported = entry.check(args)) return launcher_detail::fail(entry, unsupported);
  if (args.stages & kStageQuantize) {
    cudaError_t status = launch_quantize_qkv(args, stream);
    if (status != cudaSuccess) return launcher_detail::describe(entry, "quantize_qkv kernels", status);
  }
  if (args.stages & kStageAttention) {
    cudaError_t status = cudaSuccess;
    const ArchChoice choice = current_attention_arch_path(&status);
    if (status != cudaSuccess) return launcher_detail::describe(entry, "reading the device's compute capability", status);
    if (choice.error != nullptr) return launcher_detail::fail(entry, choice.error);
    const bool sm90 = choice.path == AttentionArchPath::kSm90;
    if (sm90 && current_sm90_schedule().error != nullptr) return launcher_detail::fail(entry, current_sm90_schedule().error);
    status = entry.attention(args, choice.path, stream);
    if (status != cudaSuccess) {
      const std::string kernel = sm90 ? std::string("attention kernel on the sm90 path (") + sm90_schedule_name(current_sm90_schedule().schedule) + " schedule)"
                                      : std::string("attn_fwd_sm80 kernel");
      return launcher_detail::describe(entry, kernel.c_str(), status);
    }
  }
  return nullptr;
}

}  // namespace qattn
