// Timeline probe of the tensor-core decode kernel (decode_paged_mma.cu): a standalone program, not part of the addon,
// that builds a synthetic paged cache on the device (B4 H32/8 hd128 by default, every page INT4 or INT8, random codes),
// times the kernel with CUDA events, and records when each warp reaches each phase of its split (QATTN_DECODE_PROBE)
// through the global timer. It shows where a decode step's fixed cost goes — launch, prologue, first page, pages,
// buffer, state, the merge — which the Nsight Compute stall samples only give as shares of warp time.
//
// Build (sm_90a; the kernel's sm_80 image is not needed here):
//   nvcc -std=c++17 -O3 --expt-relaxed-constexpr -gencode arch=compute_90a,code=sm_90a \
//     -I packages/cuda-runtime/native/include -I <turbo-attn build>/qattn_generated \
//     -o decode_timeline packages/turbo-attn/native/probe/decode_timeline.cu
// -DQATTN_DECODE_PROBE_WARM_MERGE: the kernel merges twice; the steps "counted in → warm merge" and "warm merge →
// merged" then time a merge fetched cold and one whose code is in the instruction cache (merge: lse / sums are the
// second merge's).
// Run: decode_timeline <int4|int8> <keys> [pagesPerSplit (0: the schedule's)] [batch] [launches] [sinkTokens]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

constexpr int kPhases = 13;
constexpr int kMaxWarps = 1 << 16;
__device__ unsigned long long g_probe[kMaxWarps][kPhases + 1];  // phase times, then the warp's SM

__device__ __forceinline__ void probe_mark(int phase) {
  if ((threadIdx.x & 31) != 0) return;
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  const unsigned warp = (((blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x) * (blockDim.x >> 5)) + (threadIdx.x >> 5);
  if (warp >= kMaxWarps) return;
  g_probe[warp][phase] = t;
  if (phase == 0) {
    unsigned sm;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    g_probe[warp][kPhases] = sm;
  }
}
#define QATTN_DECODE_PROBE(phase) probe_mark(phase)

#include "../decode_paged_mma.cu"

using namespace qattn;

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    cudaError_t e_ = (x);                                                                          \
    if (e_ != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));     \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)

template <typename T>
T* upload(const std::vector<T>& host) {
  T* device = nullptr;
  CHECK(cudaMalloc(&device, std::max<size_t>(1, host.size() * sizeof(T))));
  if (!host.empty()) CHECK(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return device;
}

static const char* kPhaseNames[kPhases] = {"entry",      "ring issued", "q ready",    "sink done",  "page 0 landed",
                                           "pages done", "buffer done", "state done", "counted in", "merged",
                                           "merge: lse",  "merge: sums", "warm merge"};

int main(int argc, char** argv) {
  const bool int8 = argc > 1 && std::string(argv[1]) == "int8";
  const int keys = argc > 2 ? std::atoi(argv[2]) : 16384;
  const int pps_override = argc > 3 ? std::atoi(argv[3]) : 0;
  const int B = argc > 4 ? std::atoi(argv[4]) : 4;
  const int launches = argc > 5 ? std::atoi(argv[5]) : 50;
  const int S = argc > 6 ? std::atoi(argv[6]) : 4;
  const int Hkv = 8, H = 32, D = 128, P = 64, bits = int8 ? 8 : 4;
  const int pages = std::max(0, keys - S) / P;
  const int max_pages = pages + 1;
  const int groups = B * Hkv;
  const int slots = groups * max_pages;

  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  // The schedule of src/decode/cuda/schedule.ts (mma path, one row tile of 4 rows).
  const int tiles_per_split = groups;
  const int warps_fit = prop.multiProcessorCount * 3 * kDecodeMmaWarps / tiles_per_split;
  const int wanted = warps_fit >= kDecodeMmaWarps ? warps_fit - warps_fit % kDecodeMmaWarps : std::max(1, warps_fit);
  const int splits = std::max(1, std::min(wanted, (pages + 1) / 2));
  int pps = std::max(1, (pages + splits - 1) / splits);
  if (pps_override > 0) pps = pps_override;
  const int max_splits = std::max(1, (pages + pps - 1) / pps);

  std::mt19937 rng(1);
  auto bytes = [&](size_t n, int lo, int hi) {
    std::vector<uint8_t> v(n);
    std::uniform_int_distribution<int> d(lo, hi);
    for (auto& x : v) x = static_cast<uint8_t>(d(rng));
    return v;
  };
  auto floats = [&](size_t n, float lo, float hi) {
    std::vector<float> v(n);
    std::uniform_real_distribution<float> d(lo, hi);
    for (auto& x : v) x = d(rng);
    return v;
  };
  const size_t page_bytes = static_cast<size_t>(P) * D * bits / 8;
  DecodeArgs a{};
  auto fill_tensor = [&](DecodeTensorArgs& t, bool is_k) {
    t.sink = upload(floats(static_cast<size_t>(groups) * S * D, -1.f, 1.f));
    t.buffer_codes = reinterpret_cast<const int8_t*>(upload(bytes(static_cast<size_t>(groups) * P * D, 0, 255)));
    t.buffer_scales = upload(floats(static_cast<size_t>(groups) * P, 0.005f, 0.01f));
    std::vector<int32_t> table(static_cast<size_t>(groups) * max_pages);
    for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(i);
    t.page_table = upload(table);
    t.page_bits = upload(std::vector<uint8_t>(table.size(), static_cast<uint8_t>(bits)));
    DecodePoolArgs& pool = t.pools[int8 ? 0 : 1];
    pool.codes = reinterpret_cast<const int32_t*>(upload(bytes(slots * page_bytes, 0, 255)));
    const int meta = is_k ? D : P;
    pool.step = upload(bytes(static_cast<size_t>(slots) * meta, 1, 8));
    pool.zero = reinterpret_cast<const int8_t*>(upload(bytes(static_cast<size_t>(slots) * meta, 248, 255)));
    pool.scales = upload(floats(static_cast<size_t>(slots) * (int8 ? P : 1), 0.005f, 0.01f));
    pool.slots = slots;
  };
  fill_tensor(a.k, true);
  fill_tensor(a.v, false);
  a.q = upload(floats(static_cast<size_t>(B) * H * D, -2.f, 2.f));
  a.out = upload(std::vector<float>(static_cast<size_t>(B) * H * D));
  a.lse = upload(std::vector<float>(static_cast<size_t>(B) * H));
  const int rows = H / Hkv;
  a.partial_out = upload(std::vector<float>(static_cast<size_t>(groups) * max_splits * rows * D));
  a.partial_lse = upload(std::vector<float>(static_cast<size_t>(groups) * max_splits * rows));
  a.combine_counters = upload(std::vector<int32_t>(groups));
  a.lengths = upload(std::vector<int32_t>(B, keys));
  a.k_mean = upload(floats(static_cast<size_t>(groups) * D, -0.1f, 0.1f));
  std::vector<float> signs(D);
  for (int d = 0; d < D; ++d) signs[d] = (rng() & 1) ? 1.f : -1.f;
  a.rotation_signs = upload(signs);
  a.batch = B, a.heads = H, a.kv_heads = Hkv, a.query_tokens = 1, a.head_dim = D, a.page_size = P, a.sink_tokens = S;
  a.max_pages = max_pages, a.rows_per_tile = rows, a.row_tiles = 1, a.max_splits = max_splits, a.pages_per_split = pps;
  a.exponent = kDecodeExponentSas, a.skip_sparse_tiles = 1, a.path = kDecodePathMma;
  a.sm_scale_log2 = 1.44269504f / std::sqrt(static_cast<float>(D)), a.sas_threshold = 8.f;

  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream));
  auto launch = [&] {
    if (const char* error = decode_mma_launch(a, stream)) {
      std::fprintf(stderr, "launch: %s\n", error);
      std::exit(1);
    }
  };
  for (int i = 0; i < 20; ++i) launch();
  CHECK(cudaStreamSynchronize(stream));
  std::vector<cudaEvent_t> events(2 * launches);
  for (auto& e : events) CHECK(cudaEventCreate(&e));
  for (int i = 0; i < launches; ++i) {
    CHECK(cudaEventRecord(events[2 * i], stream));
    launch();
    CHECK(cudaEventRecord(events[2 * i + 1], stream));
  }
  CHECK(cudaStreamSynchronize(stream));
  std::vector<float> us(launches);
  for (int i = 0; i < launches; ++i) {
    float ms;
    CHECK(cudaEventElapsedTime(&ms, events[2 * i], events[2 * i + 1]));
    us[i] = ms * 1000.f;
  }
  std::sort(us.begin(), us.end());
  // One more launch, its timeline read back (the probe keeps the last writes of every warp slot).
  std::vector<unsigned long long> zero(static_cast<size_t>(kMaxWarps) * (kPhases + 1), 0);
  CHECK(cudaMemcpyToSymbol(g_probe, zero.data(), zero.size() * sizeof(unsigned long long)));
  launch();
  CHECK(cudaStreamSynchronize(stream));
  std::vector<unsigned long long> probe(zero.size());
  CHECK(cudaMemcpyFromSymbol(probe.data(), g_probe, probe.size() * sizeof(unsigned long long)));

  const int grid_x = (max_splits + kDecodeMmaWarps - 1) / kDecodeMmaWarps;
  const int warps = grid_x * Hkv * B * kDecodeMmaWarps;
  unsigned long long t0 = ~0ull, t_end = 0;
  for (int w = 0; w < warps; ++w) {
    const auto* p = &probe[static_cast<size_t>(w) * (kPhases + 1)];
    if (p[0] != 0) t0 = std::min(t0, p[0]);
    for (int k = 0; k < kPhases; ++k) t_end = std::max(t_end, p[k]);
  }
  std::printf("%s keys %d batch %d sink %d: pages %d, %d splits of %d pages, grid %d×%d×%d; event µs min %.1f median %.1f; probed launch span %.1f µs\n",
              int8 ? "int8" : "int4", keys, B, S, pages, max_splits, pps, grid_x, Hkv, B, us[0], us[launches / 2], (t_end - t0) / 1000.0);
  std::printf("%-14s %7s %7s %7s %7s %7s   (µs from the first warp's entry; warps reaching the phase)\n", "phase", "n", "min", "p50", "p90", "max");
  for (int k = 0; k < kPhases; ++k) {
    std::vector<double> at;
    for (int w = 0; w < warps; ++w) {
      const unsigned long long t = probe[static_cast<size_t>(w) * (kPhases + 1) + k];
      if (t != 0) at.push_back((t - t0) / 1000.0);
    }
    if (at.empty()) continue;
    std::sort(at.begin(), at.end());
    std::printf("%-14s %7zu %7.2f %7.2f %7.2f %7.2f\n", kPhaseNames[k], at.size(), at.front(), at[at.size() / 2], at[at.size() * 9 / 10], at.back());
  }
  std::printf("%-24s %7s %7s %7s %7s %7s   (per warp, µs)\n", "step", "n", "p10", "p50", "p90", "max");
  const int steps[][2] = {{0, 1}, {1, 2}, {2, 3}, {2, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}, {8, 12}, {12, 9}, {8, 10}, {10, 11}, {11, 9}, {0, 7}};
  for (const auto& s : steps) {
    std::vector<double> d;
    for (int w = 0; w < warps; ++w) {
      const auto* p = &probe[static_cast<size_t>(w) * (kPhases + 1)];
      if (p[s[0]] != 0 && p[s[1]] != 0) d.push_back((static_cast<double>(p[s[1]]) - static_cast<double>(p[s[0]])) / 1000.0);
    }
    if (d.empty()) continue;
    std::sort(d.begin(), d.end());
    char name[64];
    std::snprintf(name, sizeof name, "%s → %s", kPhaseNames[s[0]], kPhaseNames[s[1]]);
    std::printf("%-24s %7zu %7.2f %7.2f %7.2f %7.2f\n", name, d.size(), d[d.size() / 10], d[d.size() / 2], d[d.size() * 9 / 10], d.back());
  }
  // Per SM: the warps it ran and when its last warp finished its state.
  std::vector<int> per_sm(prop.multiProcessorCount, 0);
  std::vector<double> sm_done(prop.multiProcessorCount, 0.0);
  for (int w = 0; w < warps; ++w) {
    const auto* p = &probe[static_cast<size_t>(w) * (kPhases + 1)];
    if (p[0] == 0) continue;
    const int sm = static_cast<int>(p[kPhases]);
    per_sm[sm]++;
    sm_done[sm] = std::max(sm_done[sm], (p[8] - t0) / 1000.0);
  }
  std::vector<int> counts(64, 0);
  for (int n : per_sm) counts[std::min(n, 63)]++;
  std::printf("warps per SM:");
  for (int n = 0; n < 64; ++n) {
    if (counts[n] == 0) continue;
    double last = 0;
    for (int sm = 0; sm < prop.multiProcessorCount; ++sm) {
      if (per_sm[sm] == n) last = std::max(last, sm_done[sm]);
    }
    std::printf(" %d SMs × %d (last counted in at %.1f µs);", counts[n], n, last);
  }
  std::printf("\n");
  // The critical path of each (sequence, kv head): which split's warp finished its state last (the merge waits for
  // it), and by how much it trailed the group's median split.
  int last_is_first = 0, last_is_final = 0, last_is_other = 0;
  std::vector<double> lead;
  const int warps_per_group = grid_x * kDecodeMmaWarps;
  for (int group = 0; group < Hkv * B; ++group) {
    std::vector<std::pair<double, int>> done;  // (state done, split)
    for (int split = 0; split < max_splits; ++split) {
      const auto* p = &probe[(static_cast<size_t>(group) * warps_per_group + split) * (kPhases + 1)];
      if (p[7] != 0) done.emplace_back((p[7] - t0) / 1000.0, split);
    }
    if (done.empty()) continue;
    std::sort(done.begin(), done.end());
    const int slowest = done.back().second;
    (slowest == 0 ? last_is_first : slowest == max_splits - 1 ? last_is_final : last_is_other)++;
    lead.push_back(done.back().first - done[done.size() / 2].first);
  }
  std::sort(lead.begin(), lead.end());
  if (!lead.empty()) {
    std::printf("slowest split per group: split 0 (sink) %d, last split (buffer) %d, other %d; it trails the group's median split by p50 %.2f, max %.2f µs\n",
                last_is_first, last_is_final, last_is_other, lead[lead.size() / 2], lead.back());
  }
  return 0;
}
