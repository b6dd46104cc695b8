// Arch dispatch: the one place that decides which attention kernel runs for a compute capability (host-only, no
// CUDA headers, so the addon glue can expose it to tests).
//   cc ≥ 8.0   the sm80 kernel (attn_fwd_sm80.cuh: mma.sync; also what runs on Hopper today)
//   cc 9.0     the slot of the sm90 kernel (wgmma/TMA, a later issue): taken once kHasSm90AttentionKernel is true
// QATTN_CUDA_ARCH_PATH overrides the choice for tests: auto (default), sm80, or sm90 (an error while no sm90 kernel
// is built, or on a device that is not 9.0).
#pragma once

#include <cstring>

namespace qattn {

enum class AttentionArchPath { kSm80, kSm90 };

// The sm90 attention kernel's slot: false until it exists (sm_90a code would also need a 9.0 device exactly).
constexpr bool kHasSm90AttentionKernel = false;

// Environment variable that overrides the choice (auto, sm80, sm90).
constexpr const char* kArchPathEnv = "QATTN_CUDA_ARCH_PATH";

struct ArchChoice {
  AttentionArchPath path;
  const char* error;  // nullptr when `path` can run
};

inline const char* arch_path_name(AttentionArchPath path) { return path == AttentionArchPath::kSm90 ? "sm90" : "sm80"; }

// Pure: the kernel for compute capability (cc_major, cc_minor) under an override (the env var's value or nullptr).
inline ArchChoice choose_attention_arch_path(int cc_major, int cc_minor, const char* override_path) {
  if (cc_major < 8) return {AttentionArchPath::kSm80, "the attention kernels need compute capability >= 8.0 (INT8 mma.m16n8k32)"};
  const bool sm90_fits = kHasSm90AttentionKernel && cc_major == 9 && cc_minor == 0;
  if (override_path != nullptr && *override_path != '\0' && std::strcmp(override_path, "auto") != 0) {
    if (std::strcmp(override_path, "sm80") == 0) return {AttentionArchPath::kSm80, nullptr};
    if (std::strcmp(override_path, "sm90") == 0) {
      if (!kHasSm90AttentionKernel) return {AttentionArchPath::kSm90, "QATTN_CUDA_ARCH_PATH=sm90: no sm90 attention kernel is built yet"};
      if (!sm90_fits) return {AttentionArchPath::kSm90, "QATTN_CUDA_ARCH_PATH=sm90 needs a compute capability 9.0 device"};
      return {AttentionArchPath::kSm90, nullptr};
    }
    return {AttentionArchPath::kSm80, "QATTN_CUDA_ARCH_PATH must be auto, sm80 or sm90"};
  }
  return {sm90_fits ? AttentionArchPath::kSm90 : AttentionArchPath::kSm80, nullptr};
}

}  // namespace qattn
