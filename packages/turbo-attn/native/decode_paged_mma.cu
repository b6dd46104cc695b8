// Split-KV decode over the paged, quantized KV cache on tensor cores: the same algorithm as the SIMT kernel
// (decode_paged_splitkv.cu) and the CPU oracle (src/decode/decode_paged_cpu.ts), computed warp by warp with
// mma.m16n8k16 (fp16 in, fp32 accumulate).
//
// Why fp16 MMA on INT8 data. The SIMT kernel decompressed every 4-bit code to INT8 in shared memory and ran dp4a on
// it; Nsight put it at 25% occupancy, issue-bound, most instructions in the per-code decompression (H200, B4 H32/8
// hd128: 495 µs at 16K keys, 0.14× cuDNN). Here a code goes from shared memory to a tensor-core operand in
// registers: byte-permute, one LOP3 into the mantissa of an fp16 (0x6400 | c = 1024 + c), HSUB2 1024, one HFMA2 with
// the page's integer step and zero, HMIN2 127 — 2.5 instructions per code, two codes at a time, and no store. Every
// value is an integer below 2^11, exact in fp16, and every product sum stays below 2^24 (|q̂·k̂| ≤ 127·135·128,
// P̂·v̂ ≤ 127·135·64), exact in the fp32 accumulator: the MMA result equals the oracle's INT32 dot product, so the
// tensor-core path computes the same numbers as the INT8 one.
//
// Layout of the work. Transposed products keep the query rows in the MMA's n = 8: Sᵀ[keys × rows] = K̂·q̂ᵀ
// (A = the page's K codes, token-major rows, k = channels) and Oᵀ[channels × rows] += V̂ᵀ·P̂ᵀ (A = the page's V codes,
// channel-major rows, k = tokens). GQA packs the query heads of one kv head (× the query tokens) into those 8 rows,
// so a page is read once for all of them. The accumulator of Sᵀ is, per 8×8 block, the transpose of the B operand of
// P̂ᵀ: one movmatrix per block turns the quantized probabilities into the next MMA's operand without shared memory.
//
// Layout of the grid. A CTA of 4 warps serves one (sequence, kv head, row tile); warp w runs split 4·blockIdx.x + w
// on its own — its pages through a two-stage cp.async ring in its part of shared memory, its own online softmax —
// and writes the split's state (the oracle's split, exactly: sink → pages → buffer, the same chunk order, so SAS's
// running-max-dependent zeros agree). The combine kernel merges the splits.
//
// Shared-memory rows are XOR-swizzled by 16-byte chunk, so the eight rows a warp's quads read at one k offset fall in
// different banks (4-bit K rows of 64 bytes would otherwise put rows r and r + 2 in the same bank).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "decode_args.h"
#include "decode_common.cuh"
#include "decode_mma.h"
#include "qattn/mma_sm80.cuh"

namespace qattn {
namespace {

constexpr int kRows = kDecodeMmaRows;
constexpr uint32_t kHalf1024x2 = 0x64006400u;  // (1024, 1024) as fp16x2: the magic base of the code conversions
constexpr uint32_t kHalf1152x2 = 0x64806480u;  // (1152, 1152): 1024 + 128, the base of offset-binary INT8 codes
constexpr uint32_t kHalf127x2 = 0x57f057f0u;   // (127, 127): the upper clamp of decompressed codes

__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t x) {
  uint32_t y;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
  return y;
}
__device__ __forceinline__ void cp_async_4(uint32_t smem_addr, const void* global) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr), "l"(global));
}
__device__ __forceinline__ __half2 as_half2(uint32_t x) { return *reinterpret_cast<__half2*>(&x); }
__device__ __forceinline__ uint32_t as_u32(__half2 x) { return *reinterpret_cast<uint32_t*>(&x); }

// Byte offset of byte `byte` of row `row` in a swizzled matrix of `row_bytes`-byte rows: 16-byte chunk c of row r sits
// at chunk c ^ ((r / L) mod C), C chunks per row, L rows per 128-byte bank line. Rows of fewer than 16 bytes, or of a
// chunk count that is not a power of two, stay linear. The readers pass a compile-time row_bytes (the kernel is
// instantiated per head dim and page size), so with unrolled rows and k-tiles this folds to a constant offset.
__device__ __forceinline__ int swizzled(int row, int byte, int row_bytes) {
  const int chunks = row_bytes >> 4;
  if (chunks == 0 || (chunks & (chunks - 1)) != 0) return row * row_bytes + byte;
  const int rows_per_line = row_bytes >= 128 ? 1 : 128 / row_bytes;
  const int chunk = (byte >> 4) ^ ((row / rows_per_line) & (chunks - 1));
  return row * row_bytes + (chunk << 4) + (byte & 15);
}

// Copies a whole matrix of `kRows` rows of `kRowBytes` bytes (kRows·kRowBytes a multiple of 16) into swizzled shared
// memory, asynchronously. Compile-time sizes: the row/byte split of each 16-byte chunk is a shift, not a division.
template <int kRows, int kRowBytes>
__device__ __forceinline__ void copy_matrix_async(unsigned char* dst, const void* src, int lane) {
  const auto* from = static_cast<const unsigned char*>(src);
#pragma unroll 4
  for (int chunk = lane; chunk < kRows * kRowBytes / 16; chunk += 32) {
    const int byte = chunk * 16;
    cp_async_16(smem_u32(dst + swizzled(byte / kRowBytes, byte % kRowBytes, kRowBytes)), from + byte);
  }
}
__device__ __forceinline__ void copy_bytes_async(unsigned char* dst, const void* src, int bytes, int lane) {
  const auto* from = static_cast<const unsigned char*>(src);
  for (int at = lane * 16; at < bytes; at += 32 * 16) cp_async_16(smem_u32(dst + at), from + at);
}

// Conversions of stored codes to the fp16 A operand, two k positions per register (k = 2q, 2q + 1 or 2q + 8, 2q + 9
// for quad lane q). `step`/`zero` hold the integer step and zero of those two positions as fp16; for the odd position
// the step is pre-divided by 16 (INT4) or 4 (INT2), because the code lands there shifted by 4 or 2 bits.
__device__ __forceinline__ uint32_t decompress_pair(uint32_t magic, uint32_t step, uint32_t zero) {
  const __half2 code = __hsub2(as_half2(magic), as_half2(kHalf1024x2));
  return as_u32(__hmin2(__hfma2(code, as_half2(step), as_half2(zero)), as_half2(kHalf127x2)));
}
// INT4: byte q of a word holds codes 2q (low nibble) and 2q + 1.
__device__ __forceinline__ uint32_t int4_pair(uint32_t word, int q, uint32_t step, uint32_t zero) {
  const uint32_t bytes = __byte_perm(word, 0, q * 0x1111);
  return decompress_pair((bytes & 0x00F0000Fu) | kHalf1024x2, step, zero);
}
// INT2: the low 4 bits of a 16-bit half-word hold codes 2q and 2q + 1 after the word is shifted right by 4q.
__device__ __forceinline__ uint32_t int2_pair(uint32_t half_word_twice, uint32_t step, uint32_t zero) {
  return decompress_pair((half_word_twice & 0x000C0003u) | kHalf1024x2, step, zero);
}
// INT8: two signed bytes (low bytes of the 16-bit halves of x) to fp16 through offset binary: (0x64 | b ^ 0x80) − 1152.
__device__ __forceinline__ uint32_t int8_pair(uint32_t offset_bytes, uint32_t selector) {
  const uint32_t magic = __byte_perm(offset_bytes, 0x64646464u, selector);
  return as_u32(__hsub2(as_half2(magic), as_half2(kHalf1152x2)));
}

// The A fragment of rows (r, r + 8), k-tile j of a stored code matrix in shared memory (swizzled rows of row_bytes).
// a[0] = (row r, k 2q..2q+1), a[1] = (row r+8, k 2q..), a[2] = (row r, k 2q+8..), a[3] = (row r+8, k 2q+8..).
template <int kBits>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const unsigned char* codes, int row_bytes, int r, int j, int q, uint32_t step_lo,
                                       uint32_t zero_lo, uint32_t step_hi, uint32_t zero_hi) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = r + 8 * half;
    if constexpr (kBits == 4) {
      const uint2 w = *reinterpret_cast<const uint2*>(codes + swizzled(row, 8 * j, row_bytes));
      a[half] = int4_pair(w.x, q, step_lo, zero_lo);
      a[2 + half] = int4_pair(w.y, q, step_hi, zero_hi);
    } else if constexpr (kBits == 2) {
      const uint32_t w = *reinterpret_cast<const uint32_t*>(codes + swizzled(row, 4 * j, row_bytes)) >> (4 * q);
      a[half] = int2_pair(__byte_perm(w, 0, 0x1010), step_lo, zero_lo);
      a[2 + half] = int2_pair(__byte_perm(w, 0, 0x3232), step_hi, zero_hi);
    } else {
      const unsigned char* chunk = codes + swizzled(row, 16 * j, row_bytes);
      const uint32_t lo = *reinterpret_cast<const uint32_t*>(chunk + 4 * (q >> 1));
      const uint32_t hi = *reinterpret_cast<const uint32_t*>(chunk + 8 + 4 * (q >> 1));
      const int s = 2 * (q & 1);
      const uint32_t bytes = __byte_perm(lo, hi, s | (s + 1) << 4 | (s + 4) << 8 | (s + 5) << 12) ^ 0x80808080u;
      a[half] = int8_pair(bytes, 0x4140);
      a[2 + half] = int8_pair(bytes, 0x4342);
    }
  }
}

// The step/zero pair of k positions (k, k + 1) from the fp16 scratch, as fp16x2 words.
__device__ __forceinline__ uint32_t half_pair(const __half* h, int k) { return *reinterpret_cast<const uint32_t*>(h + k); }

// What a warp keeps across chunks: its query B fragments, the output accumulator Oᵀ (C fragments: channel rows
// 16·t + r and + 8, query rows 2q and 2q + 1), and the running max and sum of its two query rows.
template <int D>
struct WarpState {
  uint32_t q_frag[D / 16][2];
  float o[D / 16][4];
  float m[2], l[2];
};

// Per-row constants of the lane's two query rows (2q, 2q + 1).
struct RowConstants {
  float scale[2], shift[2];
  int last_key[2];
};

// The softmax and P̂ quantization of one chunk of n ≤ 64 keys whose integer logits are in s (C fragments of Sᵀ: key
// 16·t + r (+ 8), query rows 2q, 2q + 1). Returns false, changing nothing, when SAS's sparse-tile skip drops the chunk;
// else fills p_frag (B fragments of P̂ᵀ) and descale (max(p·s_v)/127 per row, 0 for a row with nothing to add).
struct ChunkKeys {
  int n;               // keys in the chunk
  int first_key;       // index of its first key in the sequence
  const float* k_scale;  // per key (stride 1) or one for the chunk (stride 0), in shared memory
  int k_scale_stride;
  const float* v_scale;
  int v_scale_stride;
};

template <int D, int P>
__device__ bool softmax_chunk(WarpState<D>& w, const float (&s)[P / 16][4], uint32_t (&p_frag)[P / 16][2], float (&descale)[2], const ChunkKeys& c,
                              const RowConstants& rc, const DecodeArgs& args, int lane) {
  const int r = lane >> 2;
  const float threshold = args.exponent == kDecodeExponentSas ? args.sas_threshold : INFINITY;
  float x[(P / 16)][4];
  float chunk_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int t = 0; t < (P / 16); ++t) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int key = 16 * t + r + 8 * (i >> 1), row = i & 1;
      const bool visible = key < c.n && c.first_key + key <= rc.last_key[row];
      const float descale_qk = rc.scale[row] * c.k_scale[key * c.k_scale_stride] * args.sm_scale_log2;
      x[t][i] = visible ? fmaf(s[t][i], descale_qk, rc.shift[row]) : -INFINITY;  // never a NaN from a masked key
      chunk_max[row] = fmaxf(chunk_max[row], x[t][i]);
    }
  }
#pragma unroll
  for (int o = 4; o < 32; o <<= 1) {
    chunk_max[0] = fmaxf(chunk_max[0], __shfl_xor_sync(0xffffffffu, chunk_max[0], o));
    chunk_max[1] = fmaxf(chunk_max[1], __shfl_xor_sync(0xffffffffu, chunk_max[1], o));
  }
  if (args.skip_sparse_tiles) {
    bool kept = false;
#pragma unroll
    for (int t = 0; t < (P / 16); ++t) {
#pragma unroll
      for (int i = 0; i < 4; ++i) kept |= x[t][i] > -INFINITY && x[t][i] >= w.m[i & 1] - threshold;
    }
    if (!__any_sync(0xffffffffu, kept)) return false;
  }
  float m_new[2], alpha[2], sum[2] = {0.f, 0.f};
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    m_new[row] = fmaxf(chunk_max[row], w.m[row]);
    alpha[row] = m_new[row] == -INFINITY || w.m[row] == m_new[row] ? 1.f : decode_exp2(w.m[row] - m_new[row], args.exponent, threshold);
  }
  float pv_max[2] = {0.f, 0.f};
#pragma unroll
  for (int t = 0; t < (P / 16); ++t) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int row = i & 1, key = 16 * t + r + 8 * (i >> 1);
      const float p = m_new[row] == -INFINITY ? 0.f : decode_exp2(x[t][i] - m_new[row], args.exponent, threshold);
      sum[row] += p;
      // p·s_v; keys past the chunk (the buffer's tail) have p = 0 and a zero scale in the stage
      x[t][i] = p * c.v_scale[key * c.v_scale_stride];
      pv_max[row] = fmaxf(pv_max[row], x[t][i]);
    }
  }
#pragma unroll
  for (int o = 4; o < 32; o <<= 1) {
    sum[0] += __shfl_xor_sync(0xffffffffu, sum[0], o);
    sum[1] += __shfl_xor_sync(0xffffffffu, sum[1], o);
    pv_max[0] = fmaxf(pv_max[0], __shfl_xor_sync(0xffffffffu, pv_max[0], o));
    pv_max[1] = fmaxf(pv_max[1], __shfl_xor_sync(0xffffffffu, pv_max[1], o));
  }
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    if (m_new[row] == -INFINITY) continue;  // the row sees no key yet
    w.l[row] = alpha[row] * w.l[row] + sum[row];
    w.m[row] = m_new[row];
    if (alpha[row] != 1.f) {
#pragma unroll
      for (int t = 0; t < D / 16; ++t) {
        w.o[t][row] *= alpha[row];
        w.o[t][2 + row] *= alpha[row];
      }
    }
  }
  // P̂ = round(127·p·s_v / max(p·s_v)) per row, in [0, 127]; packed per 8×8 block and transposed into B fragments.
  const float to_code[2] = {pv_max[0] > 0.f ? 127.f / pv_max[0] : 0.f, pv_max[1] > 0.f ? 127.f / pv_max[1] : 0.f};
#pragma unroll
  for (int t = 0; t < (P / 16); ++t) {
    float code[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) code[i] = fminf(127.f, fmaxf(0.f, rintf(x[t][i] * to_code[i & 1])));
    p_frag[t][0] = movmatrix_trans(pack_half2(code[0], code[1]));
    p_frag[t][1] = movmatrix_trans(pack_half2(code[2], code[3]));
  }
  descale[0] = pv_max[0] / 127.f;
  descale[1] = pv_max[1] / 127.f;
  return true;
}

// Sᵀ = K̂·q̂ᵀ for the chunk's key tiles (K codes token-major in shared memory, k = channels).
template <int D, int P, int kBits>
__device__ __forceinline__ void chunk_logits(float (&s)[P / 16][4], const WarpState<D>& w, const unsigned char* k_codes, const __half* step,
                                             const __half* zero, int key_tiles, int lane) {
  const int r = lane >> 2, q = lane & 3;
  constexpr int row_bytes = D * kBits / 8;
#pragma unroll
  for (int t = 0; t < P / 16; ++t) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.f;
#pragma unroll
  for (int j = 0; j < D / 16; ++j) {
    uint32_t step_lo = 0, zero_lo = 0, step_hi = 0, zero_hi = 0;
    if constexpr (kBits != 8) {
      step_lo = half_pair(step, 16 * j + 2 * q), zero_lo = half_pair(zero, 16 * j + 2 * q);
      step_hi = half_pair(step, 16 * j + 8 + 2 * q), zero_hi = half_pair(zero, 16 * j + 8 + 2 * q);
    }
#pragma unroll
    for (int t = 0; t < (P / 16); ++t) {
      if (t < key_tiles) {
        uint32_t a[4];
        load_a<kBits>(a, k_codes, row_bytes, 16 * t + r, j, q, step_lo, zero_lo, step_hi, zero_hi);
        mma_f16_16816(s[t], a, w.q_frag[j][0], w.q_frag[j][1]);
      }
    }
  }
}

// O += (V̂ᵀ·P̂ᵀ)·descale for the chunk's key tiles (V codes channel-major in shared memory, k = tokens).
template <int D, int P, int kBits>
__device__ __forceinline__ void chunk_pv(WarpState<D>& w, const uint32_t (&p_frag)[P / 16][2], const float (&descale)[2], const unsigned char* v_codes,
                                         const __half* step, const __half* zero, int key_tiles, int lane) {
  const int r = lane >> 2, q = lane & 3;
  constexpr int row_bytes = P * kBits / 8;
  float acc[D / 16][4];
#pragma unroll
  for (int t = 0; t < D / 16; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = 0.f;
#pragma unroll
  for (int kt = 0; kt < (P / 16); ++kt) {
    if (kt < key_tiles) {
      uint32_t step_lo = 0, zero_lo = 0, step_hi = 0, zero_hi = 0;
      if constexpr (kBits != 8) {
        step_lo = half_pair(step, 16 * kt + 2 * q), zero_lo = half_pair(zero, 16 * kt + 2 * q);
        step_hi = half_pair(step, 16 * kt + 8 + 2 * q), zero_hi = half_pair(zero, 16 * kt + 8 + 2 * q);
      }
#pragma unroll
      for (int t = 0; t < D / 16; ++t) {
        uint32_t a[4];
        load_a<kBits>(a, v_codes, row_bytes, 16 * t + r, kt, q, step_lo, zero_lo, step_hi, zero_hi);
        mma_f16_16816(acc[t], a, p_frag[kt][0], p_frag[kt][1]);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < D / 16; ++t) {
#pragma unroll
    for (int i = 0; i < 4; ++i) w.o[t][i] = fmaf(acc[t][i], descale[i & 1], w.o[t][i]);
  }
}

// Where a warp's shared memory is.
struct WarpSmem {
  unsigned char* stages;  // two stages of stage_bytes (a pointer pair indexed at run time would live in local memory)
  int stage_bytes;
  __half* k_step;  // [headDim] the page's K step as fp16 (odd channels pre-divided)
  __half* k_zero;  // [headDim]
  __half* v_step;  // [pageSize]
  __half* v_zero;  // [pageSize]
  float* sink;     // [8, sinkTokens] the sink's scores, then p
};

// The step/zero of a stored matrix's k positions as fp16, the odd ones' step divided by the code's shift (INT4 16,
// INT2 4): the layout load_a reads.
__device__ __forceinline__ void stage_step_zero(__half* step_h, __half* zero_h, const unsigned char* step, const unsigned char* zero, int n, int bits, int lane) {
  const float odd = bits == 4 ? 1.f / 16.f : 0.25f;
  for (int k = lane; k < n; k += 32) {
    step_h[k] = __float2half_rn(static_cast<float>(step[k]) * (k & 1 ? odd : 1.f));
    zero_h[k] = __float2half_rn(static_cast<float>(static_cast<int8_t>(zero[k])));
  }
}

// One chunk (a page or the buffer) staged at `stage`: logits, softmax, P·V, dispatched on the K and V widths.
template <int D, int P>
__device__ void run_chunk(WarpState<D>& w, const WarpSmem& ws, const DecodeMmaStage& layout, const unsigned char* stage, int k_bits, int v_bits,
                          const ChunkKeys& c, const RowConstants& rc, const DecodeArgs& args, int lane) {
  const int key_tiles = (c.n + 15) / 16;
  if (k_bits != 8) stage_step_zero(ws.k_step, ws.k_zero, stage + layout.k_step, stage + layout.k_zero, D, k_bits, lane);
  if (v_bits != 8) stage_step_zero(ws.v_step, ws.v_zero, stage + layout.v_step, stage + layout.v_zero, P, v_bits, lane);
  __syncwarp();
  float s[P / 16][4];
  const unsigned char* k_codes = stage + layout.k_codes;
  if (k_bits == 8) chunk_logits<D, P, 8>(s, w, k_codes, ws.k_step, ws.k_zero, key_tiles, lane);
  else if (k_bits == 4) chunk_logits<D, P, 4>(s, w, k_codes, ws.k_step, ws.k_zero, key_tiles, lane);
  else chunk_logits<D, P, 2>(s, w, k_codes, ws.k_step, ws.k_zero, key_tiles, lane);
  uint32_t p_frag[P / 16][2];
  float descale[2];
  if (!softmax_chunk<D, P>(w, s, p_frag, descale, c, rc, args, lane)) return;
  const unsigned char* v_codes = stage + layout.v_codes;
  if (v_bits == 8) chunk_pv<D, P, 8>(w, p_frag, descale, v_codes, ws.v_step, ws.v_zero, key_tiles, lane);
  else if (v_bits == 4) chunk_pv<D, P, 4>(w, p_frag, descale, v_codes, ws.v_step, ws.v_zero, key_tiles, lane);
  else chunk_pv<D, P, 2>(w, p_frag, descale, v_codes, ws.v_step, ws.v_zero, key_tiles, lane);
}

// Starts the asynchronous copy of one tensor's page (codes, then step/zero or per-token scales, and the block scale)
// into a stage. K pages are token-major [P, D], V pages channel-major [D, P].
template <int kRows, int kCols, int kTokens>
__device__ __forceinline__ void load_tensor_page_async(unsigned char* codes, unsigned char* step, unsigned char* zero, unsigned char* scales,
                                                       const DecodeTensorArgs& tensor, int64_t entry, int lane) {
  // A stored page is [kRows, kCols] (K: [P, D] token-major, V: [D, P] channel-major), codes packed along its rows;
  // step/zero are per column (kCols), scales per token (INT8) or one per page.
  const int bits = tensor.page_bits[entry];
  const int slot = tensor.page_table[entry];
  const DecodePoolArgs pool = pool_of(tensor, bits);
  const auto* page = reinterpret_cast<const unsigned char*>(pool.codes) + static_cast<int64_t>(slot) * (kRows * kCols * bits / 8);
  if (bits == 8) {
    copy_matrix_async<kRows, kCols>(codes, page, lane);
    copy_bytes_async(scales, pool.scales + static_cast<int64_t>(slot) * kTokens, kTokens * 4, lane);
    return;
  }
  if (bits == 4) copy_matrix_async<kRows, kCols / 2>(codes, page, lane);
  else copy_matrix_async<kRows, kCols / 4>(codes, page, lane);
  copy_bytes_async(step, pool.step + static_cast<int64_t>(slot) * kCols, kCols, lane);
  copy_bytes_async(zero, pool.zero + static_cast<int64_t>(slot) * kCols, kCols, lane);
  if (lane == 0) cp_async_4(smem_u32(scales), pool.scales + slot);
}

template <int D, int P>
__device__ __forceinline__ void load_page_async(unsigned char* stage, const DecodeMmaStage& layout, const DecodeArgs& args, int64_t entry, int lane) {
  load_tensor_page_async<P, D, P>(stage + layout.k_codes, stage + layout.k_step, stage + layout.k_zero, stage + layout.k_scales, args.k, entry, lane);
  load_tensor_page_async<D, P, P>(stage + layout.v_codes, stage + layout.v_step, stage + layout.v_zero, stage + layout.v_scales, args.v, entry, lane);
}

// The INT8 buffer (the newest n < pageSize tokens, token-major K and V with per-token scales) into a stage laid out
// for INT8: K rows as they are, V transposed to channel-major, 4 tokens × 4 channels per lane at a time (four
// coalesced 32-bit loads, eight byte permutes, four stores); keys past n get zero codes and zero scales, so they add
// nothing (their logits are masked too).
template <int D, int P>
__device__ void load_buffer(unsigned char* stage, const DecodeMmaStage& layout, const DecodeArgs& args, int64_t group, int n, int lane) {
  const int8_t* k_codes = args.k.buffer_codes + group * P * D;
  const int8_t* v_codes = args.v.buffer_codes + group * P * D;
  unsigned char* k_dst = stage + layout.k_codes;
  unsigned char* v_dst = stage + layout.v_codes;
#pragma unroll 4
  for (int chunk = lane; chunk < P * D / 16; chunk += 32) {
    const int t = chunk / (D / 16), byte = (chunk % (D / 16)) * 16;
    const uint4 value = t < n ? reinterpret_cast<const uint4*>(k_codes)[chunk] : make_uint4(0, 0, 0, 0);
    *reinterpret_cast<uint4*>(k_dst + swizzled(t, byte, D)) = value;
  }
#pragma unroll 4
  for (int block = lane; block < (P / 4) * (D / 4); block += 32) {
    const int t0 = (block / (D / 4)) * 4, c0 = (block % (D / 4)) * 4;
    uint32_t w[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) w[e] = t0 + e < n ? *reinterpret_cast<const uint32_t*>(v_codes + (t0 + e) * D + c0) : 0u;
    const uint32_t lo01 = __byte_perm(w[0], w[1], 0x5140), hi01 = __byte_perm(w[0], w[1], 0x7362);
    const uint32_t lo23 = __byte_perm(w[2], w[3], 0x5140), hi23 = __byte_perm(w[2], w[3], 0x7362);
    *reinterpret_cast<uint32_t*>(v_dst + swizzled(c0 + 0, t0, P)) = __byte_perm(lo01, lo23, 0x5410);
    *reinterpret_cast<uint32_t*>(v_dst + swizzled(c0 + 1, t0, P)) = __byte_perm(lo01, lo23, 0x7632);
    *reinterpret_cast<uint32_t*>(v_dst + swizzled(c0 + 2, t0, P)) = __byte_perm(hi01, hi23, 0x5410);
    *reinterpret_cast<uint32_t*>(v_dst + swizzled(c0 + 3, t0, P)) = __byte_perm(hi01, hi23, 0x7632);
  }
  auto* k_scales = reinterpret_cast<float*>(stage + layout.k_scales);
  auto* v_scales = reinterpret_cast<float*>(stage + layout.v_scales);
  for (int t = lane; t < P; t += 32) {
    k_scales[t] = t < n ? args.k.buffer_scales[group * P + t] : 0.f;
    v_scales[t] = t < n ? args.v.buffer_scales[group * P + t] : 0.f;
  }
}

// The sink (float32 K and V against the unquantized rotated q) in fp32 on the CUDA cores, as the oracle does: the
// scores of all rows into the warp's scratch, then each lane updates its two query rows' state and output channels.
template <int D>
__device__ void run_sink(WarpState<D>& w, const WarpSmem& ws, const float* q_rot, const int* last_key, int rows, int sink_n,
                         const DecodeArgs& args, int64_t group, int lane) {
  const int S = args.sink_tokens;
  const float* k_sink = args.k.sink + group * S * D;
  const float* v_sink = args.v.sink + group * S * D;
  const float threshold = args.exponent == kDecodeExponentSas ? args.sas_threshold : INFINITY;
  // Scores: the warp splits each dot product over channels (coalesced loads of the sink's K rows) and reduces it.
  for (int t = 0; t < sink_n; ++t) {
    float k[D / 32];
#pragma unroll
    for (int i = 0; i < D / 32; ++i) k[i] = k_sink[t * D + lane + 32 * i];
#pragma unroll
    for (int row = 0; row < kRows; ++row) {
      float part = 0.f;
#pragma unroll
      for (int i = 0; i < D / 32; ++i) part = fmaf(q_rot[row * D + lane + 32 * i], k[i], part);
      part = warp_sum(part);
      if (lane == 0) ws.sink[row * S + t] = row < rows && t <= last_key[row] ? part * args.sm_scale_log2 : -INFINITY;
    }
  }
  __syncwarp();
  const int r = lane >> 2, q = lane & 3;
  const float* x_row[2] = {ws.sink + (2 * q) * S, ws.sink + (2 * q + 1) * S};
  float m_new[2], alpha[2];
  bool kept = false;
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    float chunk_max = -INFINITY;
    for (int t = 0; t < sink_n; ++t) {
      const float x = x_row[row][t];
      chunk_max = fmaxf(chunk_max, x);
      kept |= x > -INFINITY && x >= w.m[row] - threshold;
    }
    m_new[row] = fmaxf(chunk_max, w.m[row]);
    alpha[row] = m_new[row] == -INFINITY || w.m[row] == m_new[row] ? 1.f : decode_exp2(w.m[row] - m_new[row], args.exponent, threshold);
  }
  if (args.skip_sparse_tiles && !__any_sync(0xffffffffu, kept)) return;
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    if (m_new[row] == -INFINITY) continue;
    float sum = 0.f;
#pragma unroll
    for (int t = 0; t < D / 16; ++t) {
      w.o[t][row] *= alpha[row];
      w.o[t][2 + row] *= alpha[row];
    }
    for (int t = 0; t < sink_n; ++t) {
      const float p = decode_exp2(x_row[row][t] - m_new[row], args.exponent, threshold);
      sum += p;
      if (p == 0.f) continue;
#pragma unroll
      for (int ct = 0; ct < D / 16; ++ct) {
        w.o[ct][row] = fmaf(p, v_sink[t * D + 16 * ct + r], w.o[ct][row]);
        w.o[ct][2 + row] = fmaf(p, v_sink[t * D + 16 * ct + r + 8], w.o[ct][2 + row]);
      }
    }
    w.l[row] = alpha[row] * w.l[row] + sum;
    w.m[row] = m_new[row];
  }
  __syncwarp();  // the scratch is free again
}

template <int D, int P>
__global__ void __launch_bounds__(kDecodeMmaWarps * 32, 2) decode_split_mma_kernel(const DecodeArgs args) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int b = blockIdx.z;
  const int g = blockIdx.y / args.row_tiles;
  const int tile = blockIdx.y % args.row_tiles;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int length = args.lengths[b];
  const int S = args.sink_tokens;
  const int sink_n = min(length, S);
  const int after_sink = max(0, length - S);
  const int pages = after_sink / P;
  const int buffer_n = after_sink % P;
  const int splits = max(1, (pages + args.pages_per_split - 1) / args.pages_per_split);
  const int rows_total = args.heads / args.kv_heads * args.query_tokens;
  const int row0 = tile * args.rows_per_tile;
  const int rows = min(args.rows_per_tile, rows_total - row0);
  if (rows <= 0 || static_cast<int>(blockIdx.x) * kDecodeMmaWarps >= splits) return;  // block-uniform
  const int64_t group = static_cast<int64_t>(b) * args.kv_heads + g;

  // The block's query rows: fp16 INT8 codes (rows past `rows` stay zero and see no key), fp32 rotated rows, s_q, δ.
  unsigned char* at = smem_raw;
  auto* q_half = reinterpret_cast<__half*>(at);
  at += decode_align16(kRows * D * 2);
  auto* q_rot = reinterpret_cast<float*>(at);
  at += decode_align16(kRows * D * 4);
  auto* q_scale = reinterpret_cast<float*>(at);
  at += decode_align16(kRows * 4);
  auto* q_shift = reinterpret_cast<float*>(at);
  at += decode_align16(kRows * 4);
  auto* last_key = reinterpret_cast<int*>(at);
  at += decode_align16(kRows * 4);
  for (int r = warp; r < kRows; r += kDecodeMmaWarps) {
    __half* codes = q_half + r * D;
    if (r < rows) {
      const QueryRow row = prepare_query_row(args, b, g, row0 + r, q_rot + r * D, lane, [&](int d, float code) { codes[d] = __float2half_rn(code); });
      if (lane == 0) q_scale[r] = row.scale, q_shift[r] = row.shift, last_key[r] = row.last_key;
    } else {
      for (int d = lane; d < D; d += 32) codes[d] = __float2half_rn(0.f);
      if (lane == 0) q_scale[r] = 0.f, q_shift[r] = 0.f, last_key[r] = -1;
    }
  }
  __syncthreads();
  const int split = blockIdx.x * kDecodeMmaWarps + warp;
  if (split >= splits) return;  // no block barrier after this point

  const int room_bits = args.k.pools[0].codes != nullptr || args.v.pools[0].codes != nullptr ? 8 : 4;
  const DecodeMmaStage layout = decode_mma_stage(D, P, room_bits);
  unsigned char* warp_base = at + warp * decode_mma_warp_bytes(D, P, S, room_bits);
  WarpSmem ws;
  ws.stages = warp_base;
  ws.stage_bytes = layout.bytes;
  unsigned char* scratch = warp_base + 2 * layout.bytes;
  ws.k_step = reinterpret_cast<__half*>(scratch);
  ws.k_zero = ws.k_step + D;
  scratch += decode_align16(2 * D * 2);
  ws.v_step = reinterpret_cast<__half*>(scratch);
  ws.v_zero = ws.v_step + P;
  scratch += decode_align16(2 * P * 2);
  ws.sink = reinterpret_cast<float*>(scratch);

  const int r = lane >> 2, q = lane & 3;
  WarpState<D> w;
#pragma unroll
  for (int j = 0; j < D / 16; ++j) {
    w.q_frag[j][0] = half_pair(q_half + r * D, 16 * j + 2 * q);
    w.q_frag[j][1] = half_pair(q_half + r * D, 16 * j + 8 + 2 * q);
  }
#pragma unroll
  for (int t = 0; t < D / 16; ++t) w.o[t][0] = w.o[t][1] = w.o[t][2] = w.o[t][3] = 0.f;
  w.m[0] = w.m[1] = -INFINITY;
  w.l[0] = w.l[1] = 0.f;
  RowConstants rc;
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    rc.scale[row] = q_scale[2 * q + row];
    rc.shift[row] = q_shift[2 * q + row];
    rc.last_key[row] = last_key[2 * q + row];
  }

  const int first_page = split * args.pages_per_split;
  const int last_page = min(pages, first_page + args.pages_per_split);
  const int64_t table_row = group * args.max_pages;
  // The first page's copy starts before the sink is scored, so its latency hides behind that work.
  if (first_page < last_page) load_page_async<D, P>(ws.stages, layout, args, table_row + first_page, lane);
  cp_async_commit();
  if (split == 0 && sink_n > 0) run_sink(w, ws, q_rot, last_key, rows, sink_n, args, group, lane);

  for (int page = first_page; page < last_page; ++page) {
    const int s = (page - first_page) & 1;
    if (page + 1 < last_page) {
      load_page_async<D, P>(ws.stages + (s ^ 1) * ws.stage_bytes, layout, args, table_row + page + 1, lane);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncwarp();
    const unsigned char* stage = ws.stages + s * ws.stage_bytes;
    const int64_t entry = table_row + page;
    const int k_bits = args.k.page_bits[entry], v_bits = args.v.page_bits[entry];
    const ChunkKeys c{P, S + page * P, reinterpret_cast<const float*>(stage + layout.k_scales), k_bits == 8 ? 1 : 0,
                      reinterpret_cast<const float*>(stage + layout.v_scales), v_bits == 8 ? 1 : 0};
    run_chunk<D, P>(w, ws, layout, stage, k_bits, v_bits, c, rc, args, lane);
    __syncwarp();  // stage s is refilled by the next iteration's copy
  }
  cp_async_wait<0>();

  if (split == splits - 1 && buffer_n > 0) {
    // The buffer takes both stages' room: INT8 K and V of a whole page fit in two stages of any width.
    const DecodeMmaStage buffer_layout = decode_mma_stage(D, P, 8);
    __syncwarp();
    load_buffer<D, P>(ws.stages, buffer_layout, args, group, buffer_n, lane);
    __syncwarp();
    const ChunkKeys c{buffer_n, S + pages * P, reinterpret_cast<const float*>(ws.stages + buffer_layout.k_scales), 1,
                      reinterpret_cast<const float*>(ws.stages + buffer_layout.v_scales), 1};
    run_chunk<D, P>(w, ws, buffer_layout, ws.stages, 8, 8, c, rc, args, lane);
  }

  // The split's state: O / l per row and lse₂ = m + log2 l (base 2; the combine converts).
  const int64_t state_row0 = (group * args.max_splits + split) * rows_total + row0;
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    const int tile_row = 2 * q + row;
    if (tile_row >= rows) continue;
    const float l = w.l[row];
    const float inverse = l > 0.f ? 1.f / l : 0.f;
    float* out = args.partial_out + (state_row0 + tile_row) * D;
#pragma unroll
    for (int t = 0; t < D / 16; ++t) {
      out[16 * t + r] = w.o[t][row] * inverse;
      out[16 * t + r + 8] = w.o[t][2 + row] * inverse;
    }
    if (r == 0) args.partial_lse[state_row0 + tile_row] = l > 0.f ? w.m[row] + log2f(l) : -INFINITY;
  }
}

template <int D, int P>
const char* launch_for(const DecodeArgs& args, cudaStream_t stream, int smem) {
  if (smem > 48 * 1024) {
    const cudaError_t status = cudaFuncSetAttribute(decode_split_mma_kernel<D, P>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (status != cudaSuccess) return cudaGetErrorString(status);
  }
  const dim3 grid((args.max_splits + kDecodeMmaWarps - 1) / kDecodeMmaWarps, args.kv_heads * args.row_tiles, args.batch);
  decode_split_mma_kernel<D, P><<<grid, kDecodeMmaWarps * 32, smem, stream>>>(args);
  const cudaError_t status = cudaGetLastError();
  return status == cudaSuccess ? nullptr : cudaGetErrorString(status);
}

}  // namespace

const char* decode_mma_launch(const DecodeArgs& args, cudaStream_t stream) {
  const int room_bits = args.k.pools[0].codes != nullptr || args.v.pools[0].codes != nullptr ? 8 : 4;
  const int smem = decode_mma_smem_bytes(args.head_dim, args.page_size, args.sink_tokens, room_bits);
  // decode_mma_supported: head dim 64 or 128, pages of 16, 32 or 64 tokens.
  if (args.head_dim == 64) {
    return args.page_size == 16 ? launch_for<64, 16>(args, stream, smem) : args.page_size == 32 ? launch_for<64, 32>(args, stream, smem) : launch_for<64, 64>(args, stream, smem);
  }
  return args.page_size == 16 ? launch_for<128, 16>(args, stream, smem) : args.page_size == 32 ? launch_for<128, 32>(args, stream, smem) : launch_for<128, 64>(args, stream, smem);
}

}  // namespace qattn
