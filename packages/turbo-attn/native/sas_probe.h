// Argument block of turbo-attn's SAS probe launcher: evaluates the kernels' SAS exponent (qattn/sas_exp2.cuh) on
// `count` inputs, so a GPU test can compare it with @qattn/quant-core's sasExp2 bit for bit.
#pragma once

#include <cstdint>

namespace qattn {

struct SasProbeArgs {
  const float* x;   // [count] exponents, base 2
  float* out;       // [count] sas(x)
  int32_t count;
  float threshold;  // T
};

}  // namespace qattn
