// Arch dispatch: the one place that decides which attention kernel runs for a compute capability (host-only, no
// CUDA headers, so the addon glue can expose it to tests).
//   cc ≥ 8.0   the sm80 kernel (attn_fwd_sm80.cuh: mma.sync)
//   cc 9.0     the sm90 path: the sm90a kernel (attn_fwd_sm90.cuh: wgmma, TMA, warp specialization) for the calls it
//              serves, the sm80 kernel for the rest (arch_dispatch.cuh). sm_90a machine code runs on 9.0 exactly, so
//              later GPUs (10.x, 12.x) take the sm80 path. The default on 9.0 (kSm90IsDefault).
// QATTN_CUDA_ARCH_PATH overrides the choice: auto (default), sm80 (the sm80 kernel on any device ≥ 8.0), or sm90 (an
// error on a device that is not 9.0). On the sm90 path, QATTN_SM90_SCHEDULE picks the sm90a kernel's consumer schedule
// (tile_config.h): auto (default: kSm90DefaultSchedule), serial, overlap or pingpong. Every schedule is compiled, so
// one build benches them against each other (one process per value: the variable is read once per process).
#pragma once

#include <cstring>
#include <initializer_list>

#include "qattn/tile_config.h"

namespace qattn {

enum class AttentionArchPath { kSm80, kSm90 };

// Whether 9.0 devices take the sm90 path (the addons compile the sm90a kernel either way): false sends every device to
// the sm80 kernel and makes QATTN_CUDA_ARCH_PATH=sm90 an error.
constexpr bool kHasSm90AttentionKernel = true;

// Whether `auto` picks the sm90 path on a 9.0 device: yes, since its overlapped schedule (tile_config.h) beats the sm80
// kernel at every measured shape — H200, B4 H32 hd128, kernel TOPS, one run (apps/bench/reports/h200-issue10-schedules):
// flash-int8 N4K 382 vs 363, N16K 411 vs 386, causal N4K 356 vs 334, N16K 403 vs 377 (sm90a serial: 349/371/326/365).
constexpr bool kSm90IsDefault = true;

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
  return {sm90_fits && kSm90IsDefault ? AttentionArchPath::kSm90 : AttentionArchPath::kSm80, nullptr};
}

// Pure: whether a call on the sm90 path runs the sm90a kernel (else the sm80 one): a head dim it serves (INT8 or fp16
// P·V), and one where it is the faster kernel for that precision unless QATTN_CUDA_ARCH_PATH=sm90 forces it onto every
// head dim it serves (tile_config.h: tile_config_sm90_serves, tile_config_sm90_preferred). The launch adds one more
// condition of the call's size (attn_fwd_sm90_serves: TMA's 32-bit row coordinates).
inline bool sm90_kernel_runs(int head_dim, bool pv_int8, bool forced) {
  return tile_config_sm90_serves(head_dim) && (forced || tile_config_sm90_preferred(head_dim, pv_int8));
}

// Whether an override value forces the sm90 path (QATTN_CUDA_ARCH_PATH=sm90), rather than auto choosing it.
inline bool sm90_forced_by(const char* override_path) {
  return override_path != nullptr && std::strcmp(override_path, "sm90") == 0;
}

// Environment variable that overrides the sm90a kernel's schedule (auto, serial, overlap, pingpong).
constexpr const char* kSm90ScheduleEnv = "QATTN_SM90_SCHEDULE";

struct Sm90ScheduleChoice {
  Sm90Schedule schedule;
  const char* error;  // nullptr when the override names a schedule
};

inline const char* sm90_schedule_name(Sm90Schedule schedule) {
  return schedule == Sm90Schedule::kPingPong ? "pingpong" : schedule == Sm90Schedule::kOverlap ? "overlap" : "serial";
}

// Pure: the schedule under an override (the env var's value or nullptr).
inline Sm90ScheduleChoice choose_sm90_schedule(const char* override_schedule) {
  if (override_schedule == nullptr || *override_schedule == '\0' || std::strcmp(override_schedule, "auto") == 0) {
    return {kSm90DefaultSchedule, nullptr};
  }
  for (const Sm90Schedule schedule : {Sm90Schedule::kSerial, Sm90Schedule::kOverlap, Sm90Schedule::kPingPong}) {
    if (std::strcmp(override_schedule, sm90_schedule_name(schedule)) == 0) return {schedule, nullptr};
  }
  return {kSm90DefaultSchedule, "QATTN_SM90_SCHEDULE must be auto, serial, overlap or pingpong"};
}

}  // namespace qattn
