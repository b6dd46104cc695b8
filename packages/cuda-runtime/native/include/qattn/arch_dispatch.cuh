// Arch dispatch, device side: the choice of arch_path.h for the current device, and the launch of the chosen kernel.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>

#include "qattn/arch_path.h"
#include "qattn/attention_args.h"
#include "qattn/device_info.h"
#include "qattn/attn_fwd_sm80.cuh"
#include "qattn/attn_fwd_sm90.cuh"

namespace qattn {

// The choice for the current device: compute capability cached per device, the override read once per process.
inline ArchChoice current_attention_arch_path(cudaError_t* status) {
  static const char* const override_path = std::getenv(kArchPathEnv);
  const int cc = current_compute_capability(status);
  if (*status != cudaSuccess) return {AttentionArchPath::kSm80, nullptr};
  return choose_attention_arch_path(cc / 10, cc % 10, override_path);
}

// The sm90a kernel's consumer schedule: QATTN_SM90_SCHEDULE, read once per process (arch_path.h).
inline Sm90ScheduleChoice current_sm90_schedule() {
  static const Sm90ScheduleChoice choice = choose_sm90_schedule(std::getenv(kSm90ScheduleEnv));
  return choice;
}

// Whether QATTN_CUDA_ARCH_PATH=sm90 forces the sm90a kernel onto every call it serves (tests), rather than auto's
// choice of the head dims where it is the faster kernel (tile_config_sm90_preferred).
inline bool sm90_forced() {
  static const bool forced = sm90_forced_by(std::getenv(kArchPathEnv));
  return forced;
}

// The attention kernel of `Variant` and P·V precision on the chosen path: the sm90 path runs the sm90a kernel where
// sm90_kernel_runs (arch_path.h) and the call fits it, the sm80 kernel otherwise (other head dims): the path names the
// device's best kernel set, not one kernel.
template <typename Variant, PvPrecision kPv>
cudaError_t launch_attention(const AttentionArgs& args, AttentionArchPath path, cudaStream_t stream) {
  if (path == AttentionArchPath::kSm90 && sm90_kernel_runs(args.head_dim, kPv == PvPrecision::kInt8, sm90_forced()) &&
      attn_fwd_sm90_serves(args)) {
    return launch_attn_fwd_sm90<Variant, kPv>(args, current_sm90_schedule().schedule, stream);
  }
  return launch_attn_fwd_sm80<Variant, kPv>(args, stream);
}

}  // namespace qattn
