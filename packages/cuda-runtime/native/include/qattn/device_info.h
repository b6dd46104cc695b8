// The current device's compute capability, read once per device: the kernels' launchers ask on every launch (which
// kernel image runs, and what it needs from the host), and a driver query per launch would be host time every call
// pays.
#pragma once

#include <cuda_runtime.h>

#include <atomic>

namespace qattn {

// 10·major + minor of the current device (e.g. 90 for an H100/H200); 0 with *status set when it cannot be read.
inline int current_compute_capability(cudaError_t* status) {
  static std::atomic<int> cached_cc[16] = {};  // 10·major + minor + 1, 0 = not read yet
  int device = 0;
  *status = cudaGetDevice(&device);
  if (*status != cudaSuccess) return 0;
  int cc = device < 16 ? cached_cc[device].load(std::memory_order_relaxed) - 1 : -1;
  if (cc < 0) {
    int major = 0, minor = 0;
    *status = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    if (*status == cudaSuccess) *status = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    if (*status != cudaSuccess) return 0;
    cc = 10 * major + minor;
    if (device < 16) cached_cc[device].store(cc + 1, std::memory_order_relaxed);
  }
  return cc;
}

}  // namespace qattn
