// Arch dispatch, device side: the choice of arch_path.h for the current device, and the launch of the chosen kernel.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>

#include "qattn/arch_path.h"
#include "qattn/attention_args.h"
#include "qattn/attn_fwd_sm80.cuh"

namespace qattn {

// The choice for the current device: compute capability cached per device, the override read once per process.
inline ArchChoice current_attention_arch_path(cudaError_t* status) {
  static const char* const override_path = std::getenv(kArchPathEnv);
  static std::atomic<int> cached_cc[16] = {};  // 10·major + minor + 1, 0 = not read yet
  int device = 0;
  *status = cudaGetDevice(&device);
  if (*status != cudaSuccess) return {AttentionArchPath::kSm80, nullptr};
  int cc = device < 16 ? cached_cc[device].load(std::memory_order_relaxed) - 1 : -1;
  if (cc < 0) {
    int major = 0, minor = 0;
    *status = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    if (*status == cudaSuccess) *status = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    if (*status != cudaSuccess) return {AttentionArchPath::kSm80, nullptr};
    cc = 10 * major + minor;
    if (device < 16) cached_cc[device].store(cc + 1, std::memory_order_relaxed);
  }
  return choose_attention_arch_path(cc / 10, cc % 10, override_path);
}

// The attention kernel of `Variant` and P·V precision on the chosen path.
template <typename Variant, PvPrecision kPv>
cudaError_t launch_attention(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream) {
  switch (path) {
    case AttentionArchPath::kSm90:  // never chosen while kHasSm90AttentionKernel is false
    case AttentionArchPath::kSm80:
      return launch_attn_fwd_sm80<Variant, kPv>(args, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace qattn
