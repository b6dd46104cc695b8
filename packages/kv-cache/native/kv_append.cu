// The append path of the CUDA KV cache (one launcher, three kernels in stream order) and the small table kernels.
// The arithmetic is the CPU oracle's, in the same precision: rows are rotated, scaled and rounded in float64 exactly
// as src/cpu (hadamard.ts, int8-rows.ts) does it, and pages are compressed with quant-core's integer formulas
// (page-codec.ts, progressive.ts), so the codes equal the CPU cache's bit for bit; only the K means and the head
// priorities of mixed-precision pages sum in a different order (see src/cuda/README section of the package README).
//
//   kv_quantize_tokens   grid (chunks, entries·kvHeads), one thread per channel: rotate (FWHT in shared memory),
//                        per-token INT8 code + scale into staging, sink rows into staging, K partial sums; flags a
//                        non-finite input. Writes nothing the cache holds, so it needs no gate.
//   kv_compress_pages    grid (pages, 2): one CTA per page that fills and tensor; all kv heads of the page, since the
//                        head-wise bit allocation ranks them. Gated on *status.
//   kv_commit            grid (entries·kvHeads): sink rows, INT8 buffer rows, K mean, lengths. Gated on *status.
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <string>

#include "kv_cache_args.h"
#include "qattn/launch_abi.h"

namespace qattn {
namespace {

constexpr int kCompressThreads = 256;

__device__ double block_max(double value, double* scratch) {
  for (int offset = 16; offset > 0; offset >>= 1) value = fmax(value, __shfl_xor_sync(0xffffffffu, value, offset));
  __syncthreads();  // scratch may still be read by the previous reduction
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = value;
  __syncthreads();
  double result = scratch[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) result = fmax(result, scratch[w]);
  return result;
}

// Deterministic: the same tree for the same block size.
__device__ double block_sum(double value, double* scratch) {
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = value;
  __syncthreads();
  double result = scratch[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) result += scratch[w];
  return result;
}

// s = max|x| / 127 rounded to float32, SAFE_SCALE (1) for zero, at least MIN_SCALE (2^−126): int8-rows.ts.
__device__ float int8_scale(double abs_max) {
  return abs_max == 0.0 ? 1.f : fmaxf(__double2float_rn(abs_max / 127.0), FLT_MIN);
}

__device__ int8_t clamp_code(double code) { return static_cast<int8_t>(fmin(127.0, fmax(-127.0, code))); }

// Up to 1024 threads (one per channel): the bound keeps every head dim launchable.
__global__ void __launch_bounds__(1024) kv_quantize_tokens_kernel(const KVAppendArgs a) {
  extern __shared__ double quantize_smem[];
  double* row = quantize_smem;                 // [headDim] the row being rotated
  double* scratch = quantize_smem + a.head_dim;  // [32]
  const int D = a.head_dim, G = a.kv_heads, T = a.tokens, S = a.sink_tokens;
  const int e = blockIdx.y / G, g = blockIdx.y % G, chunk = blockIdx.x;
  const int d = threadIdx.x;
  const bool active = d < D;
  const int length = a.plan[2 * e + 1];
  const int t0 = chunk * kAppendChunkTokens, t1 = min(T, t0 + kAppendChunkTokens);
  const size_t group = static_cast<size_t>(e) * G + g;
  // hadamard.ts: row ← H·(s ∘ row) · (1/√n), butterflies in the same order, so float64 results are identical.
  const double norm = 1.0 / sqrt(static_cast<double>(D));
  const double sign = (a.signs != nullptr && active) ? static_cast<double>(a.signs[d]) : 1.0;
  bool non_finite = false;
  double k_sum = 0.0;
  for (int which = 0; which < 2; ++which) {
    const KVTensorPtrs& tensor = which == 0 ? a.k : a.v;
    for (int t = t0; t < t1; ++t) {
      double x = 0.0;
      if (active) {
        const float in = tensor.input[(group * T + t) * D + d];  // [entries, kvHeads, tokens, headDim]
        if (isfinite(in)) x = in;
        else non_finite = true;
      }
      if (a.signs != nullptr) {
        __syncthreads();  // the previous row's readers are done
        if (active) row[d] = x * sign;
        for (int half = 1; half < D; half <<= 1) {
          __syncthreads();
          if (active && (d & half) == 0) {
            const double lo = row[d], hi = row[d + half];
            row[d] = lo + hi;
            row[d + half] = lo - hi;
          }
        }
        __syncthreads();
        if (active) x = row[d] * norm;
      }
      const int position = length + t;  // uniform over the CTA
      if (position < S) {
        if (active) tensor.stage_sink[(group * S + position) * D + d] = static_cast<float>(x);
      } else {
        const float scale = int8_scale(block_max(active ? fabs(x) : 0.0, scratch));
        if (active) tensor.stage_codes[(group * T + t) * D + d] = clamp_code(rint(x / static_cast<double>(scale)));
        if (d == 0) tensor.stage_scales[group * T + t] = scale;
      }
      if (which == 0) k_sum += x;
    }
  }
  if (active) a.k_partial[(group * a.chunks + chunk) * D + d] = k_sum;
  if (__syncthreads_or(non_finite) && a.check_finite && d == 0) atomicOr(a.status, 1);
}

struct RowRef {
  const int8_t* codes;  // [headDim]
  float scale;
};

// Row r of page `page` of (sequence b, kv head g): still in the INT8 buffer when it was appended before this call,
// else in staging.
__device__ RowRef page_row(const KVAppendArgs& a, const KVTensorPtrs& tensor, int e, int b, int length, int g, int page,
                           int r) {
  const int position = a.sink_tokens + page * a.page_size + r;
  if (position < length) {
    const size_t row = (static_cast<size_t>(b) * a.kv_heads + g) * a.page_size + r;
    return {tensor.buffer_codes + row * a.head_dim, tensor.buffer_scales[row]};
  }
  const size_t row = (static_cast<size_t>(e) * a.kv_heads + g) * a.tokens + (position - length);
  return {tensor.stage_codes + row * a.head_dim, tensor.stage_scales[row]};
}

// int8-rows.ts requantizeBlockInt8: the page's rows to one symmetric INT8 scale, token-major into block [P, D].
__device__ float requantize_page(const KVAppendArgs& a, const KVTensorPtrs& tensor, int e, int b, int length, int g,
                                 int page, int8_t* block, double* scratch) {
  const int D = a.head_dim, n = a.page_size * D;
  double abs_max = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const RowRef row = page_row(a, tensor, e, b, length, g, page, i / D);
    abs_max = fmax(abs_max, fabs(static_cast<double>(row.codes[i % D])) * static_cast<double>(row.scale));
  }
  const float block_scale = int8_scale(block_max(abs_max, scratch));
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const RowRef row = page_row(a, tensor, e, b, length, g, page, i / D);
    const double ratio = static_cast<double>(row.scale) / static_cast<double>(block_scale);
    block[i] = clamp_code(rint(static_cast<double>(row.codes[i % D]) * ratio));
  }
  __syncthreads();
  return block_scale;
}

// Element (row, col) of the stored page matrix: K [P, D] as is, V [D, P] the transpose of the token-major block.
__device__ int stored(const int8_t* block, bool channel_major, int D, int row, int col) {
  return channel_major ? block[col * D + row] : block[row * D + col];
}

__device__ int head_bits(const double* priority, int heads, int low, int g) {
  if (low == 0) return 4;
  // quant-core allocateHeadBits: ascending priority, ties by head index; the `low` first get 2 bits.
  int rank = 0;
  for (int h = 0; h < heads; ++h) rank += (priority[h] < priority[g] || (priority[h] == priority[g] && h < g)) ? 1 : 0;
  return rank < low ? 2 : 4;
}

__global__ void __launch_bounds__(kCompressThreads) kv_compress_pages_kernel(const KVAppendArgs a) {
  if (*a.status != 0) return;
  extern __shared__ double compress_smem[];
  const int D = a.head_dim, P = a.page_size, G = a.kv_heads;
  const int32_t* job = a.plan + 2 * a.entries + blockIdx.x * (3 + 2 * G);
  const int e = job[0], page = job[1];
  const int b = a.plan[2 * e], length = a.plan[2 * e + 1];
  const bool channel_major = blockIdx.y == 1;
  const KVTensorPtrs& tensor = channel_major ? a.v : a.k;
  const int32_t* slots = job + 3 + (channel_major ? G : 0);
  const int rows = channel_major ? D : P, cols = channel_major ? P : D, n = P * D;
  double* scratch = compress_smem;                            // [32]
  double* priority = scratch + 32;                             // [kvHeads]
  int* step = reinterpret_cast<int*>(priority + G);            // [cols]
  int* zero = step + cols;                                     // [cols]
  int8_t* block = reinterpret_cast<int8_t*>(zero + cols);      // [P, D] token-major
  const int low = a.bits == 4 ? tensor.low_heads : 0;

  if (low > 0) {
    // page-codec.ts choosePageBits: priority = gap × std of the head's block codes, × s_b².
    for (int g = 0; g < G; ++g) {
      const float block_scale = requantize_page(a, tensor, e, b, length, g, page, block, scratch);
      double sum = 0.0, high = -128.0, low_value = 128.0;
      for (int i = threadIdx.x; i < n; i += blockDim.x) {
        sum += block[i];
        high = fmax(high, static_cast<double>(block[i]));
        low_value = fmin(low_value, static_cast<double>(block[i]));
      }
      sum = block_sum(sum, scratch);  // integers: exact in any order
      high = block_max(high, scratch);
      low_value = -block_max(-low_value, scratch);
      const double mean = sum / n;
      double squares = 0.0;
      for (int i = threadIdx.x; i < n; i += blockDim.x) squares += (block[i] - mean) * (block[i] - mean);
      squares = block_sum(squares, scratch);
      if (threadIdx.x == 0) {
        const double s = static_cast<double>(block_scale);
        priority[g] = (high - low_value) * sqrt(squares / n) * (s * s);
      }
      __syncthreads();
    }
  }

  for (int g = 0; g < G; ++g) {
    const int bits = a.bits == 8 ? 8 : head_bits(priority, G, low, g);
    int index = 0;  // heads before g of the same width take that pool's slots first (the CPU allocates in g order)
    for (int h = 0; h < g; ++h) index += ((a.bits == 8 ? 8 : head_bits(priority, G, low, h)) == bits) ? 1 : 0;
    const int slot = bits == 2 ? slots[(G - low) + index] : slots[index];
    const size_t table = (static_cast<size_t>(b) * G + g) * a.max_pages + page;
    if (bits == 8) {
      // writeInt8Page: the buffer rows with their per-token scales, V transposed to [D, P].
      int8_t* codes = reinterpret_cast<int8_t*>(tensor.pool8.codes) + static_cast<size_t>(slot) * n;
      for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const int r = i / D, d = i % D;
        const RowRef row = page_row(a, tensor, e, b, length, g, page, r);
        codes[channel_major ? d * P + r : i] = row.codes[d];
      }
      for (int r = threadIdx.x; r < P; r += blockDim.x) {
        tensor.pool8.scales[static_cast<size_t>(slot) * P + r] = page_row(a, tensor, e, b, length, g, page, r).scale;
      }
    } else {
      const KVPoolPtrs& pool = bits == 4 ? tensor.pool4 : tensor.pool2;
      const int levels = (1 << bits) - 1;
      const float block_scale = requantize_page(a, tensor, e, b, length, g, page, block, scratch);
      // Per column of the stored matrix: INT4 quant-core's compressProgressive (min/max grid), INT2 the clipped grid of
      // compressInt2Clipped (src/progressive-int2.ts: step ⌊σ + ½⌋ centred on the mean where that is finer than the
      // min/max step), in the same int32 arithmetic, so the codes equal the CPU's.
      for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        int lo = 127, hi = -127, sum = 0, sum_squares = 0;
        for (int r = 0; r < rows; ++r) {
          const int x = stored(block, channel_major, D, r, c);
          lo = min(lo, x);
          hi = max(hi, x);
          sum += x;
          sum_squares += x * x;
        }
        int s = max(1, (hi - lo + levels - 1) / levels);
        // The grid ends at 127 where it would pass it (decodes never leave INT8: no clamp in the decode kernels).
        int z = min(lo, 127 - levels * s);
        if (bits == 2) {
          const int mag = abs(sum), quotient = mag / rows, rest = mag - quotient * rows;
          const int four_n_variance = 4 * sum_squares - (4 * mag * quotient + (4 * mag * rest + rows - 1) / rows);
          int sigma_step = 0;
          while (sigma_step < s && (2 * sigma_step + 1) * (2 * sigma_step + 1) * rows <= four_n_variance) ++sigma_step;
          sigma_step = max(1, sigma_step);
          if (sigma_step < s) {
            const int numerator = 2 * sum - levels * sigma_step * rows + rows, denominator = 2 * rows;
            const int centred = numerator >= 0 ? numerator / denominator : -((-numerator + denominator - 1) / denominator);
            s = sigma_step;
            z = min(max(centred, -128), 127 - levels * sigma_step);
          }
        }
        step[c] = s;
        zero[c] = z;
        pool.step[static_cast<size_t>(slot) * cols + c] = static_cast<uint8_t>(s);
        pool.zero[static_cast<size_t>(slot) * cols + c] = static_cast<int8_t>(z);
      }
      __syncthreads();
      const int per_word = 32 / bits, words = n / per_word;
      for (int w = threadIdx.x; w < words; w += blockDim.x) {
        uint32_t word = 0;
        for (int j = 0; j < per_word; ++j) {
          const int i = w * per_word + j, r = i / cols, c = i % cols;
          const int offset = stored(block, channel_major, D, r, c) - zero[c];
          // Only a clipped INT2 column's tails leave [0, levels]; a min/max grid covers its column.
          const double rounded = rint(static_cast<double>(offset) / static_cast<double>(step[c]));
          const uint32_t code = static_cast<uint32_t>(fmin(fmax(rounded, 0.0), static_cast<double>(levels)));
          word |= code << (j * bits);
        }
        pool.codes[static_cast<size_t>(slot) * words + w] = word;
      }
      if (threadIdx.x == 0) pool.scales[slot] = block_scale;
    }
    if (threadIdx.x == 0) {
      tensor.page_table[table] = slot;
      tensor.page_bits[table] = static_cast<uint8_t>(bits);
    }
    __syncthreads();  // block and step/zero are reused by the next head
  }
}

__global__ void __launch_bounds__(1024) kv_commit_kernel(const KVAppendArgs a) {
  if (*a.status != 0) return;
  const int D = a.head_dim, G = a.kv_heads, T = a.tokens, S = a.sink_tokens, P = a.page_size;
  const int e = blockIdx.x / G, g = blockIdx.x % G, d = threadIdx.x;
  const int b = a.plan[2 * e], length = a.plan[2 * e + 1], after = length + T;
  const size_t group_e = static_cast<size_t>(e) * G + g, group_b = static_cast<size_t>(b) * G + g;
  for (int which = 0; which < 2; ++which) {
    const KVTensorPtrs& tensor = which == 0 ? a.k : a.v;
    for (int q = length; q < min(after, S); ++q) {
      if (d < D) tensor.sink[(group_b * S + q) * D + d] = tensor.stage_sink[(group_e * S + q) * D + d];
    }
    // Every token passes through buffer slot (q − S) mod P on the CPU; the last one written to each slot stays there
    // (live rows of the partial page, stale rows of the last full page), so the buffer equals the CPU's byte for byte.
    for (int q = max(max(length, S), after - P); q < after; ++q) {
      const size_t slot = group_b * P + (q - S) % P, staged = group_e * T + (q - length);
      if (d < D) tensor.buffer_codes[slot * D + d] = tensor.stage_codes[staged * D + d];
      if (d == 0) tensor.buffer_scales[slot] = tensor.stage_scales[staged];
    }
  }
  if (d < D) {
    // Running mean of every K row: (mean·length + Σ new rows) / (length + tokens), partials summed in chunk order.
    double sum = 0.0;
    for (int c = 0; c < a.chunks; ++c) sum += a.k_partial[(group_e * a.chunks + c) * D + d];
    float* mean = a.k_mean + group_b * D + d;
    *mean = static_cast<float>((static_cast<double>(*mean) * length + sum) / after);
  }
  if (g == 0 && d == 0) a.lengths[b] = after;
}

__global__ void kv_clear_kernel(const KVClearArgs a) {
  const int b = blockIdx.x / a.kv_heads, g = blockIdx.x % a.kv_heads;
  if (a.sequence >= 0 && b != a.sequence) return;
  const size_t group = static_cast<size_t>(b) * a.kv_heads + g;
  for (int d = threadIdx.x; d < a.head_dim; d += blockDim.x) a.k_mean[group * a.head_dim + d] = 0.f;
  for (int p = threadIdx.x; p < a.max_pages; p += blockDim.x) {
    a.k_page_table[group * a.max_pages + p] = -1;
    a.k_page_bits[group * a.max_pages + p] = 0;
    a.v_page_table[group * a.max_pages + p] = -1;
    a.v_page_bits[group * a.max_pages + p] = 0;
  }
  if (g == 0 && threadIdx.x == 0) a.lengths[b] = 0;
}

__global__ void kv_relayout_kernel(const KVRelayoutArgs a) {
  const size_t total = static_cast<size_t>(a.groups) * a.new_max;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t group = i / a.new_max, p = i % a.new_max;
    const bool kept = p < static_cast<size_t>(a.old_max);
    a.new_table[i] = kept ? a.old_table[group * a.old_max + p] : -1;
    a.new_bits[i] = kept ? a.old_bits[group * a.old_max + p] : 0;
  }
}

std::string& last_error() {
  thread_local std::string message;
  return message;
}

const char* fail(const std::string& what) {
  last_error() = "kv-cache launcher: " + what;
  return last_error().c_str();
}

const char* check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return nullptr;
  return fail(std::string(kernel) + " failed: " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
}

template <typename Args>
const Args* args_of(const void* raw, size_t bytes, const char* name) {
  if (bytes != sizeof(Args)) {
    fail(std::string(name) + ": argument block of " + std::to_string(bytes) + " bytes, expected " +
         std::to_string(sizeof(Args)) + " (addon and JS out of sync: rebuild)");
    return nullptr;
  }
  return static_cast<const Args*>(raw);
}

int warp_threads(int n) { return (n + 31) / 32 * 32; }

}  // namespace

// Dynamic shared memory of kv_compress_pages (src/cuda/schedule.ts computes the same to reject a config up front).
size_t kv_compress_smem_bytes(int kv_heads, int head_dim, int page_size) {
  const int cols = head_dim > page_size ? head_dim : page_size;
  return sizeof(double) * (32 + kv_heads) + sizeof(int) * 2 * cols + static_cast<size_t>(page_size) * head_dim;
}

}  // namespace qattn

extern "C" const char* qattn_kv_append_launch(const void* raw_args, size_t args_bytes, void* raw_stream) {
  using namespace qattn;
  const KVAppendArgs* args = args_of<KVAppendArgs>(raw_args, args_bytes, "append");
  if (args == nullptr) return last_error().c_str();
  const KVAppendArgs& a = *args;
  if (a.head_dim < 1 || a.head_dim > 1024 || a.entries < 1 || a.tokens < 1) return fail("append: bad shape");
  auto stream = static_cast<cudaStream_t>(raw_stream);
  const int threads = warp_threads(a.head_dim);
  kv_quantize_tokens_kernel<<<dim3(a.chunks, a.entries * a.kv_heads), threads, sizeof(double) * (a.head_dim + 32),
                              stream>>>(a);
  if (const char* error = check_launch("kv_quantize_tokens")) return error;
  if (a.jobs > 0) {
    const size_t smem = kv_compress_smem_bytes(a.kv_heads, a.head_dim, a.page_size);
    if (smem > 48 * 1024) {
      const cudaError_t status =
          cudaFuncSetAttribute(kv_compress_pages_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      if (status != cudaSuccess) return fail(std::string("kv_compress_pages: ") + cudaGetErrorString(status));
    }
    kv_compress_pages_kernel<<<dim3(a.jobs, 2), kCompressThreads, smem, stream>>>(a);
    if (const char* error = check_launch("kv_compress_pages")) return error;
  }
  kv_commit_kernel<<<a.entries * a.kv_heads, threads, 0, stream>>>(a);
  return check_launch("kv_commit");
}

extern "C" const char* qattn_kv_clear_launch(const void* raw_args, size_t args_bytes, void* raw_stream) {
  using namespace qattn;
  const KVClearArgs* args = args_of<KVClearArgs>(raw_args, args_bytes, "clear");
  if (args == nullptr) return last_error().c_str();
  kv_clear_kernel<<<args->batch * args->kv_heads, 128, 0, static_cast<cudaStream_t>(raw_stream)>>>(*args);
  return check_launch("kv_clear");
}

extern "C" const char* qattn_kv_relayout_launch(const void* raw_args, size_t args_bytes, void* raw_stream) {
  using namespace qattn;
  const KVRelayoutArgs* args = args_of<KVRelayoutArgs>(raw_args, args_bytes, "relayout");
  if (args == nullptr) return last_error().c_str();
  const size_t total = static_cast<size_t>(args->groups) * args->new_max;
  const int blocks = static_cast<int>((total + 255) / 256 < 1024 ? (total + 255) / 256 : 1024);
  kv_relayout_kernel<<<blocks > 0 ? blocks : 1, 256, 0, static_cast<cudaStream_t>(raw_stream)>>>(*args);
  return check_launch("kv_relayout");
}
