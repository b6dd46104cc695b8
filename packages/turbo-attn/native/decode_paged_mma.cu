// Split-KV decode over the paged, quantized KV cache on tensor cores: the same algorithm as the SIMT kernel
// (decode_paged_splitkv.cu) and the CPU oracle (src/decode/decode_paged_cpu.ts), computed warp by warp with integer
// mma.m16n8k32 (8-bit operands, INT32 accumulators): the same integers as the oracle, exactly.
//
// Why integer MMA on the raw codes. A page's INT4/INT2 value is k̂ = code·step + zero with an integer step and zero
// per stored column (quant-core's compressProgressive guarantees the result never leaves INT8, so there is no clamp).
// The step and zero lie along the reduction axis — K's per channel, V's per token — so they fold into the other
// operand instead of being applied to every code:
//
//   q̂·k̂ = Σ_c (q̂_c·step_c)·code_c + Σ_c q̂_c·zero_c          P̂·v̂ = Σ_t (P̂_t·step_t)·code_t + Σ_t P̂_t·zero_t
//
// The codes (0..15 or 0..3) go to the MMA as unsigned bytes after one mask (and a shift for every other one): under
// half an instruction per code, where decompressing each code first (the SIMT kernel, and an fp16-MMA version of this
// one at 2.5 instructions per code) bounded the kernel: H200, B4 H32/8 hd128 at 16K keys, 495 µs SIMT, 102 µs with
// fp16 MMA (27.9M instructions issued, 0.39 issued per scheduler cycle at 8 warps per SM). q̂·step and P̂·step
// (≤ 127·85) do not fit a byte: they are split into a low 7-bit and a high byte, two MMAs (the tensor cores idle here
// anyway), recombined as hi·128 + lo. INT8 pages and the buffer multiply their codes by q̂ and P̂ directly. Every sum
// stays below 2^31 and is exact.
//
// Layout of the work. Transposed products keep the query rows in the MMA's n = 8: Sᵀ[keys × rows] = K̂·q̂ᵀ
// (A = the page's K codes, token-major rows, k = channels) and Oᵀ[channels × rows] += V̂ᵀ·P̂ᵀ (A = the page's V codes,
// channel-major rows, k = tokens). GQA packs the query heads of one kv head (× the query tokens) into those 8 rows,
// so a page is read once for all of them. Each width expands a stored row into A registers in the order its bit
// fields give (element_of), and the B operand is built in the same order. P·V's B operand comes from the Sᵀ
// accumulator through movmatrix (8×8 transposes), so Q·Kᵀ gathers its keys in the order V's width needs (slot_key).
//
// Packed rows. With at most 4 query rows in a tile (GQA 4:1 at one query token, the common decode shape) half of n = 8
// would idle; instead columns 0-3 carry the rows' low parts (q̂·step & 127, P̂·step & 127) and columns 4-7 their high
// parts, so one MMA replaces the lo/hi pair. Lanes q and q ^ 2 then hold the two parts of the same rows: each joins
// the logits of half the key tiles and runs their softmax, and O's two halves (linear in P̂) are accumulated apart and
// joined once per split.
//
// Layout of the grid. A CTA of 4 warps serves one (sequence, kv head, row tile); warp w runs split 4·blockIdx.x + w
// on its own — its pages through a ring of K and V items in its part of shared memory (TMA and bulk copies on an
// mbarrier per slot on sm_90a, cp.async elsewhere; a page's K item is refilled once its softmax is done, its V item
// after P·V), its own online softmax —
// and writes the split's state (the oracle's split, exactly: sink → pages → buffer, the same chunk order, so SAS's
// running-max-dependent zeros agree). The last CTA of a row tile to finish merges the splits (combine_tile): one
// launch per decode step, no second kernel and its launch gap on the step's critical path.
//
// Shared-memory rows are XOR-swizzled by 16-byte chunk, so the eight rows a warp's quads read at one k offset fall in
// different banks.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "decode_args.h"
#include "decode_common.cuh"
#include "decode_mma.h"
#include "qattn/device_info.h"
#include "qattn/mma_sm80.cuh"
#include "qattn/mma_sm90.cuh"

// Timeline probe: QATTN_DECODE_PROBE(phase) marks the moment a warp reaches a phase of its split (native/probe/
// decode_timeline.cu defines it to record the global timer; the addon's build leaves it empty). The probe built with
// QATTN_DECODE_PROBE_WARM_MERGE merges twice (the same reads and writes), to time a merge whose code is in the
// instruction cache against one fetched cold.
#ifndef QATTN_DECODE_PROBE
#define QATTN_DECODE_PROBE(phase) ((void)0)
#endif

namespace qattn {
namespace {

constexpr int kRows = kDecodeMmaRows;

__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t x) {
  uint32_t y;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
  return y;
}
// Brings a 128-byte line into L2 (no register result, nothing to wait for).
__device__ __forceinline__ void prefetch_l2(const void* global) { asm volatile("prefetch.global.L2 [%0];\n" ::"l"(global) : "memory"); }
__device__ __forceinline__ void prefetch_l1(const void* global) { asm volatile("prefetch.global.L1 [%0];\n" ::"l"(global) : "memory"); }
__device__ __forceinline__ void cp_async_4(uint32_t smem_addr, const void* global) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr), "l"(global));
}
// 16 bytes, or zeros when !valid (the source is not read: src-size 0).
__device__ __forceinline__ void cp_async_16_or_zero(uint32_t smem_addr, const void* global, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr), "l"(global), "r"(valid ? 16 : 0));
}
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
[[maybe_unused]] __device__ __forceinline__ void copy_bytes_async(unsigned char* dst, const void* src, int bytes, int lane) {
  const auto* from = static_cast<const unsigned char*>(src);
  for (int at = lane * 16; at < bytes; at += 32 * 16) cp_async_16(smem_u32(dst + at), from + at);
}

// ---- Operand order -------------------------------------------------------------------------------------------------
// mma.m16n8k32 with 8-bit operands: A registers hold (row g, k 4q..4q+3) and (row g, k 16+4q..16+4q+3) (and the same
// for row g + 8), B registers (k 4q..4q+3, n g) and (k 16+4q.., n g), for quad lane q = lane % 4 and g = lane / 4. A
// stored row of E elements (a key's D channels, or a channel's P tokens) is expanded into KT = max(1, E/32) k-tiles of
// two registers h = 0, 1 per lane, byte i of register (kt, h) holding element element_of(kt, q, h, i). The order is
// whatever each width's bit fields give for the fewest instructions; B is built in the same order, and a reduction
// does not care which k position an element takes as long as both operands agree.
template <int E>
__host__ __device__ constexpr int k_tiles() {
  return E >= 32 ? E / 32 : 1;
}

template <int kBits, int E>
__device__ __forceinline__ int element_of(int kt, int q, int h, int i) {
  const int W = k_tiles<E>() * q + kt;
  if constexpr (kBits == 4) return 8 * W + 2 * i + h;  // word W: nibble 2i (h 0) or 2i + 1 (h 1)
  else if constexpr (kBits == 2) return 16 * (W >> 1) + 4 * i + 2 * (W & 1) + h;  // word W/2: field 4i + 2(W & 1) + h
  else return 8 * W + 4 * h + i;  // word 2W + h as it is
}

// N consecutive 32-bit words at byte `byte` of row `row` of a swizzled matrix (N ≤ 4 lie in one 16-byte chunk).
template <int N>
__device__ __forceinline__ void load_words(uint32_t (&w)[N], const unsigned char* matrix, int row, int byte, int row_bytes) {
  if constexpr (N == 1) {
    w[0] = *reinterpret_cast<const uint32_t*>(matrix + swizzled(row, byte, row_bytes));
  } else if constexpr (N == 2) {
    const uint2 v = *reinterpret_cast<const uint2*>(matrix + swizzled(row, byte, row_bytes));
    w[0] = v.x, w[1] = v.y;
  } else {
#pragma unroll
    for (int c = 0; c < N / 4; ++c) {
      const uint4 v = *reinterpret_cast<const uint4*>(matrix + swizzled(row, byte + 16 * c, row_bytes));
      w[4 * c] = v.x, w[4 * c + 1] = v.y, w[4 * c + 2] = v.z, w[4 * c + 3] = v.w;
    }
  }
}

// A stored row (E elements at kBits, swizzled in shared memory) expanded to this lane's A bytes: r[kt][h]. INT4: two
// masks (one shift) per word of 8 codes; INT2: a shift and a mask per 4 codes; INT8: the words themselves. Lanes past
// a short row (E = 16) and rows past the matrix get zeros.
template <int kBits, int E>
__device__ __forceinline__ void expand_row(uint32_t (&r)[k_tiles<E>()][2], const unsigned char* matrix, int row, bool valid, int q) {
  constexpr int KT = k_tiles<E>();
  constexpr int row_bytes = E * kBits / 8;
  if constexpr (kBits == 4) {
    uint32_t w[KT];
    const int byte = 4 * KT * q;
    if (valid && byte < row_bytes) load_words<KT>(w, matrix, row, byte, row_bytes);
    else
#pragma unroll
      for (int i = 0; i < KT; ++i) w[i] = 0;
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) {
      r[kt][0] = w[kt] & 0x0F0F0F0Fu;
      r[kt][1] = (w[kt] >> 4) & 0x0F0F0F0Fu;
    }
  } else if constexpr (kBits == 2) {
    constexpr int NW = KT >= 2 ? KT / 2 : 1;
    const int byte = 4 * (KT >= 2 ? NW * q : q >> 1);
    uint32_t w[NW];
    if (valid && byte < row_bytes) load_words<NW>(w, matrix, row, byte, row_bytes);
    else
#pragma unroll
      for (int i = 0; i < NW; ++i) w[i] = 0;
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) {
      const uint32_t word = w[KT >= 2 ? kt >> 1 : 0];
      const int shift = 4 * (KT >= 2 ? kt & 1 : q & 1);
      r[kt][0] = (word >> shift) & 0x03030303u;
      r[kt][1] = (word >> (shift + 2)) & 0x03030303u;
    }
  } else {
    uint32_t w[2 * KT];
    const int byte = 8 * KT * q;
    if (valid && byte < row_bytes) load_words<2 * KT>(w, matrix, row, byte, row_bytes);
    else
#pragma unroll
      for (int i = 0; i < 2 * KT; ++i) w[i] = 0;
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) r[kt][0] = w[2 * kt], r[kt][1] = w[2 * kt + 1];
  }
}

// Byte j of a word, sign-extended: PTX prmt's sign-replicate selectors (bit 3 of a selector nibble), which CUDA's
// __byte_perm masks off.
__device__ __forceinline__ int sign_extend_byte(uint32_t word, int j) {
  const uint32_t s = j | 8;
  uint32_t out;
  asm("prmt.b32 %0, %1, 0, %2;\n" : "=r"(out) : "r"(word), "r"(j | s << 4 | s << 8 | s << 12));
  return static_cast<int>(out);
}
__device__ __forceinline__ uint32_t byte_of(uint32_t word, int j) { return __byte_perm(word, 0, j | 0x4440); }

// INT4 K: the products q̂_c·step_c of the 8 channels c0..c0 + 7 (|q̂·step| ≤ 127·255: 16 bits), and Σ q̂_c·zero_c of
// them added to zero_term.
__device__ __forceinline__ void int4_channel_products(int (&p)[8], int& zero_term, const int8_t* q_row, const uint8_t* step, const int8_t* zero, int c0) {
  const uint2 qv = *reinterpret_cast<const uint2*>(q_row + c0);
  const uint2 sv = *reinterpret_cast<const uint2*>(step + c0);
  const uint2 zv = *reinterpret_cast<const uint2*>(zero + c0);
  zero_term = __dp4a(static_cast<int>(qv.x), static_cast<int>(zv.x), zero_term);
  zero_term = __dp4a(static_cast<int>(qv.y), static_cast<int>(zv.y), zero_term);
#pragma unroll
  for (int i = 0; i < 8; ++i) p[i] = sign_extend_byte(i < 4 ? qv.x : qv.y, i & 3) * static_cast<int>(byte_of(i < 4 ? sv.x : sv.y, i & 3));
}

// B operand of a page's Q·Kᵀ for INT4/INT2 K: q' = q̂·step split into lo = q' & 127 and hi = q' >> 7 (q' = 128·hi
// + lo), in width kBits's element order, and this lane's part of the zero term Σ_c q̂_c·zero_c (its 4·KT·2 channels).
// Packed (≤ 4 query rows): a lane builds one part only, the high one when `high` (its B column holds a row's hi), into lo.
template <int kBits, int D, bool kPacked>
__device__ __forceinline__ int folded_q_frags(uint32_t (&lo)[D / 32][2], uint32_t (&hi)[D / 32][2], const int8_t* q_row, const uint8_t* step, const int8_t* zero,
                                              int q, bool high) {
  int zero_term = 0;
  if constexpr (kBits == 4 && kPacked) {
    // Lanes g < 4 and g + 4 (lane ^ 16) build the low and high parts of the same row's B columns from the same
    // products: each multiplies half the k-tiles' channels and hands the 16-bit products to its partner (two per
    // word), and both take their part of every product. zero_term covers the lane's own k-tiles (page_logits adds the
    // partner's).
    constexpr int KT = D / 32, HALF = KT / 2;
    const int shift = high ? 7 : 0;  // bits 7..14 of each 16-bit product (its hi byte), or bits 0..6 (lo)
    const uint32_t mask = high ? 0x00FF00FFu : 0x007F007Fu;
#pragma unroll
    for (int j = 0; j < HALF; ++j) {
      int p[8];
      int4_channel_products(p, zero_term, q_row, step, zero, 8 * (KT * q + (high ? HALF : 0) + j));
      uint32_t own[2], theirs[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        // Channels of register h: p[h], p[2 + h], p[4 + h], p[6 + h] (even or odd nibbles), as two words of two.
        const uint32_t a = __byte_perm(p[h], p[2 + h], 0x5410), b = __byte_perm(p[4 + h], p[6 + h], 0x5410);
        const uint32_t a_other = __shfl_xor_sync(0xffffffffu, a, 16), b_other = __shfl_xor_sync(0xffffffffu, b, 16);
        own[h] = __byte_perm((a >> shift) & mask, (b >> shift) & mask, 0x6420);
        theirs[h] = __byte_perm((a_other >> shift) & mask, (b_other >> shift) & mask, 0x6420);
      }
      // Selected, not indexed by `high`: a run-time index would put lo in local memory.
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        lo[j][h] = high ? theirs[h] : own[h];
        lo[HALF + j][h] = high ? own[h] : theirs[h];
      }
    }
    return zero_term;
  }
  // Packed (INT2): one part, chosen by a shift and a mask (the low 7 bits, or the signed rest).
  const int part_shift = high ? 7 : 0;
  const uint32_t part_mask = high ? 0xFFFFFFFFu : 0x7F7F7F7Fu;
#pragma unroll
  for (int kt = 0; kt < D / 32; ++kt) {
    if constexpr (kBits == 4) {
      // Channels 8W..8W+7 of word W = KT·q + kt: even ones are register h 0, odd ones h 1.
      int p[8];
      int4_channel_products(p, zero_term, q_row, step, zero, 8 * (D / 32 * q + kt));
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if constexpr (kPacked) {
          lo[kt][h] = pack_low_bytes(p[h] >> part_shift, p[2 + h] >> part_shift, p[4 + h] >> part_shift, p[6 + h] >> part_shift) & part_mask;
        } else {
          lo[kt][h] = pack_low_bytes(p[h], p[2 + h], p[4 + h], p[6 + h]) & 0x7F7F7F7Fu;
          hi[kt][h] = pack_low_bytes(p[h] >> 7, p[2 + h] >> 7, p[4 + h] >> 7, p[6 + h] >> 7);
        }
      }
    } else {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        int p[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int c = element_of<kBits, D>(kt, q, h, i);
          const int v = q_row[c];
          p[i] = v * step[c];
          zero_term += v * zero[c];
        }
        if constexpr (kPacked) {
          lo[kt][h] = pack_low_bytes(p[0] >> part_shift, p[1] >> part_shift, p[2] >> part_shift, p[3] >> part_shift) & part_mask;
        } else {
          lo[kt][h] = pack_low_bytes(p[0], p[1], p[2], p[3]) & 0x7F7F7F7Fu;
          hi[kt][h] = pack_low_bytes(p[0] >> 7, p[1] >> 7, p[2] >> 7, p[3] >> 7);
        }
      }
    }
  }
  return zero_term;
}

// B operand of Q·Kᵀ over INT8 rows (INT8 pages and the buffer): q̂ itself, in the INT8 element order.
template <int D>
__device__ __forceinline__ void int8_q_frags(uint32_t (&b)[D / 32][2], const int8_t* q_row, int q) {
#pragma unroll
  for (int kt = 0; kt < D / 32; ++kt) {
    // Element order of INT8 rows: register (kt, h) is word 2W + h of the row, W = KT·q + kt.
    const uint2 v = *reinterpret_cast<const uint2*>(q_row + 8 * (D / 32 * q + kt));
    b[kt][0] = v.x, b[kt][1] = v.y;
  }
}

// What a warp keeps across chunks: the output accumulator Oᵀ (C fragments: channel rows 16·t + g and + 8, query rows
// 2q and 2q + 1) and the running max of its two query rows (the same in every lane of a row), and two per-lane
// partials that are summed over the row's lanes once, at the split's end (warp_row_total), rather than at every page:
// the row sum l of the lane's own keys, and z, the lane's part of V's zero term Σ_t P̂_t·zero_t·descale (INT4/INT2 V:
// v̂ = code·step + zero per token, so the zero term is one number per row, the same for every channel of O). Both are
// rescaled with O.
template <int D>
struct WarpState {
  float o[D / 16][4];
  float m[2], l[2], z[2];
};

// Σ of a per-lane partial over the lanes that share its query rows: the 8 lanes of one quad position (q), or with
// packed rows the 16 lanes of q and q ^ 2.
template <bool kPacked>
__device__ __forceinline__ float warp_row_total(float partial) {
#pragma unroll
  for (int o = kPacked ? 2 : 4; o < 32; o <<= 1) partial += __shfl_xor_sync(0xffffffffu, partial, o);
  return partial;
}

// Per-row constants of the lane's two query rows (2q, 2q + 1).
struct RowConstants {
  float scale[2], shift[2];
  int last_key[2];
};

// One chunk's keys and where its per-key data sit in shared memory (scales, step/zero per token for INT4/INT2 V).
struct ChunkKeys {
  int n;          // keys in the chunk
  int first_key;  // index of its first key in the sequence
  const float* k_scale;  // per key (INT8 rows) or one per page (the width says which)
  const float* v_scale;
  const uint8_t* v_step;
  const int8_t* v_zero;
};

// Where a warp's shared memory is: its ring (decode_mma.h DecodeMmaRing) and the sink's scores.
template <int kRing>
struct WarpSmem {
  unsigned char* codes;  // kRing slots of K codes then V codes
  unsigned char* meta;   // kRing slots of per-page data
  DecodeMmaRing ring;
  float* sink;           // [8, sinkTokens] the sink's scores
  uint32_t barriers;     // sm_90a: the ring's mbarriers, 16 bytes per slot (its K item's, then its V item's)
  // The slot of page `i` of the split (counted from its first page), and its parts.
  __device__ __forceinline__ int slot(int i) const { return i & (kRing - 1); }
  __device__ __forceinline__ unsigned char* k_codes(int i) const { return codes + slot(i) * ring.slot_codes_bytes(); }
  __device__ __forceinline__ unsigned char* v_codes(int i) const { return k_codes(i) + ring.k_codes_bytes; }
  __device__ __forceinline__ unsigned char* meta_of(int i) const { return meta + slot(i) * ring.meta_bytes; }
  __device__ __forceinline__ uint32_t k_barrier(int i) const { return barriers + 16 * slot(i); }
  __device__ __forceinline__ uint32_t v_barrier(int i) const { return k_barrier(i) + 8; }
  // The phase of page i's use of its slot: every use completes each of the slot's barriers once.
  __device__ __forceinline__ uint32_t parity(int i) const { return (i / kRing) & 1; }
};

// Sᵀ slots → keys. Slot σ of key tile t feeds byte i = (σ & 1) + 2(σ ≥ 8) of B register (t / 2, t % 2) of P·V for
// quad lane (σ & 7) / 2 (movmatrix's transpose of the Sᵀ accumulator), which must be the token V's width puts there.
template <int kVBits, int P>
__device__ __forceinline__ int slot_key(int t, int g, int half) {
  return element_of<kVBits, P>(t >> 1, g >> 1, t & 1, (g & 1) + 2 * half);
}

template <int P>
__host__ __device__ constexpr int key_tiles() {
  return 2 * k_tiles<P>();
}

// S (integer logits) = K̂·q̂ᵀ for a page's keys, with K at kKBits (INT4/INT2: two MMAs on the folded q, plus the
// zero term), gathered in the key order V's width kVBits needs.
//
// Packed (kPacked: at most 4 query rows, as GQA 4:1 with one query token): the MMA's n = 8 columns hold the rows' low
// parts (columns 0-3) and high parts (4-7), so one MMA does what two do otherwise; a lane pair (q, q ^ 2) then holds the
// lo and hi of the same two rows (rows (2q mod 4) and + 1), which chunk_softmax joins, each lane of the pair for half
// of the key tiles. INT8 K has no hi part: the high columns take q̂ again, so both lanes hold whole logits (no join).
template <int D, int P, int kKBits, int kVBits, bool kPacked>
__device__ __forceinline__ void page_logits(int32_t (&s)[key_tiles<P>()][4], int (&z)[2], const unsigned char* k_codes, const int8_t* q_row,
                                            const uint8_t* k_step, const int8_t* k_zero, int n, int lane) {
  const int g = lane >> 2, q = lane & 3;
  constexpr int KT = D / 32;
  const bool high = kPacked && g >= 4;  // packed: this lane's B column carries the high part
  uint32_t lo[KT][2], hi[KT][2];
  int zero_term = 0;
  if constexpr (kKBits == 8) {
    // q̂ fits a byte: no high part. Packed, the high lanes' columns take q̂ of the same rows again, so every lane's
    // C columns are its rows' whole logits and no join is needed.
    int8_q_frags<D>(lo, q_row, q);
  } else {
    zero_term = folded_q_frags<kKBits, D, kPacked>(lo, hi, q_row, k_step, k_zero, q, high);
  }
  constexpr bool kTwoMmas = kKBits != 8 && !kPacked;
  int32_t s_hi[kTwoMmas ? key_tiles<P>() : 1][4];
#pragma unroll
  for (int t = 0; t < key_tiles<P>(); ++t) {
    s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0;
    if constexpr (kTwoMmas) s_hi[t][0] = s_hi[t][1] = s_hi[t][2] = s_hi[t][3] = 0;
    const int key0 = slot_key<kVBits, P>(t, g, 0), key1 = slot_key<kVBits, P>(t, g, 1);
    uint32_t ra[KT][2], rb[KT][2];
    expand_row<kKBits, D>(ra, k_codes, key0, key0 < n, q);
    expand_row<kKBits, D>(rb, k_codes, key1, key1 < n, q);
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) {
      const uint32_t a[4] = {ra[kt][0], rb[kt][0], ra[kt][1], rb[kt][1]};
      if constexpr (kKBits == 8) {
        mma_s8_16832(s[t], a, lo[kt][0], lo[kt][1]);
      } else {
        mma_u8s8_16832(s[t], a, lo[kt][0], lo[kt][1]);
        if constexpr (kTwoMmas) mma_u8s8_16832(s_hi[t], a, hi[kt][0], hi[kt][1]);
      }
    }
  }
  // Packed: lane q < 2 holds the lo parts of rows 2q, 2q + 1, its partner q + 2 their hi parts (INT8 K: both hold
  // whole logits); chunk_softmax joins them, each lane of the pair for half of the key tiles, and adds z there.
  z[0] = z[1] = 0;
  if constexpr (kKBits != 8) {
    // Σ_c q̂·zero of query row g sits in quad g's lanes; C rows 2q and 2q + 1 take it from quads 2q and 2q + 1
    // (packed: rows (2q mod 4) and + 1, from quads 2(q mod 2) and + 1).
    if constexpr (kPacked && kKBits == 4) zero_term += __shfl_xor_sync(0xffffffffu, zero_term, 16);  // the partner's k-tiles
    zero_term += __shfl_xor_sync(0xffffffffu, zero_term, 1);
    zero_term += __shfl_xor_sync(0xffffffffu, zero_term, 2);
    const int quad = kPacked ? 8 * (q & 1) : 8 * q;
    const int z0 = __shfl_sync(0xffffffffu, zero_term, quad), z1 = __shfl_sync(0xffffffffu, zero_term, quad + 4);
    if constexpr (kPacked) {
      z[0] = z0, z[1] = z1;
    } else {
#pragma unroll
      for (int t = 0; t < key_tiles<P>(); ++t) {
#pragma unroll
        for (int i = 0; i < 4; ++i) s[t][i] += s_hi[t][i] * 128 + (i & 1 ? z1 : z0);
      }
    }
  }
}

// The online softmax of one chunk whose integer logits are in s, then P̂ = round(127·p·s_v / max(p·s_v)) per row
// folded with V's step (INT4/INT2) into the B operand of P·V (lo/hi bytes), and V's zero term per row. Returns false,
// changing nothing, when SAS's sparse-tile skip drops the chunk. The widths say where the scales are: a scale per key
// for INT8 rows, one per page otherwise (hoisted out of the per-key work).
//
// Packed, the lane pair (q, q ^ 2) shares its rows: lane q < 2 takes the softmax of the lower half of the key tiles,
// its partner the upper half (no work done twice), joining the logits' lo/hi parts for its half with one shuffle per
// value, reducing the rows' max and sums over the pair too, and swapping P̂·step with the partner so each lane can
// still build its B columns (lo or hi) of every tile.
template <int D, int P, int kKBits, int kVBits, bool kPacked>
__device__ __forceinline__ bool chunk_softmax(WarpState<D>& w, const int32_t (&s_in)[key_tiles<P>()][4], const int (&z)[2], uint32_t (&p_lo)[k_tiles<P>()][2],
                                              uint32_t (&p_hi)[k_tiles<P>()][2], float (&descale)[2], const ChunkKeys& c,
                                              const RowConstants& rc, const DecodeArgs& args, int lane) {
  constexpr int MT_ALL = key_tiles<P>();
  constexpr int MT = kPacked ? MT_ALL / 2 : MT_ALL;  // the key tiles this lane's softmax covers
  constexpr int kFirstLevel = kPacked ? 2 : 4;       // reductions over the rows' lanes: the pair (xor 2) when packed
  const int g = lane >> 2;
  const int half = kPacked && (lane & 3) >= 2 ? 1 : 0;
  const auto tile_of = [&](int j) { return half * MT + j; };  // the lane's j-th tile among all MT_ALL
  int32_t s[MT][4];
  if constexpr (kPacked) {
#pragma unroll
    for (int j = 0; j < MT; ++j) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        if constexpr (kKBits == 8) {
          s[j][i] = half ? s_in[MT + j][i] : s_in[j][i];
        } else {
          // The partner's part of my tile: lane half 0 gets the hi of tile j, lane half 1 the lo of tile MT + j.
          const int other = __shfl_xor_sync(0xffffffffu, half ? s_in[j][i] : s_in[MT + j][i], 2);
          s[j][i] = (half ? other + s_in[MT + j][i] * 128 : s_in[j][i] + other * 128) + z[i & 1];
        }
      }
    }
  } else {
#pragma unroll
    for (int j = 0; j < MT; ++j) {
#pragma unroll
      for (int i = 0; i < 4; ++i) s[j][i] = s_in[j][i];
    }
  }
  const float threshold = args.exponent == kDecodeExponentSas ? args.sas_threshold : INFINITY;
  float x[MT][4];
  int key[MT][2];
  float chunk_max[2] = {-INFINITY, -INFINITY};
  // The same products as per key, (s_q·s_k)·σlog2e, formed once per row when the page has one K scale.
  const float page_descale[2] = {kKBits == 8 ? 0.f : rc.scale[0] * c.k_scale[0] * args.sm_scale_log2, kKBits == 8 ? 0.f : rc.scale[1] * c.k_scale[0] * args.sm_scale_log2};
  // Whole chunks before every row's last key (every page of a one-token decode) skip the per-key mask.
  const bool all_visible = __all_sync(0xffffffffu, c.n == P && c.first_key + P - 1 <= min(rc.last_key[0], rc.last_key[1]));
#pragma unroll
  for (int t = 0; t < MT; ++t) {
    key[t][0] = slot_key<kVBits, P>(tile_of(t), g, 0);
    key[t][1] = slot_key<kVBits, P>(tile_of(t), g, 1);
  }
  if (all_visible) {
#pragma unroll
    for (int t = 0; t < MT; ++t) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int k = key[t][i >> 1], row = i & 1;
        const float descale_qk = kKBits == 8 ? rc.scale[row] * c.k_scale[k] * args.sm_scale_log2 : page_descale[row];
        x[t][i] = fmaf(static_cast<float>(s[t][i]), descale_qk, rc.shift[row]);
        // Pages of 16 tokens leave slots past the page in the MMA tiles (element_of spans 32 keys): masked as always.
        if constexpr (P < 32) x[t][i] = k < P ? x[t][i] : -INFINITY;
        chunk_max[row] = fmaxf(chunk_max[row], x[t][i]);
      }
    }
  } else {
#pragma unroll
    for (int t = 0; t < MT; ++t) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int k = key[t][i >> 1], row = i & 1;
        const bool visible = k < c.n && c.first_key + k <= rc.last_key[row];
        const float descale_qk = kKBits == 8 ? rc.scale[row] * (visible ? c.k_scale[k] : 0.f) * args.sm_scale_log2 : page_descale[row];
        x[t][i] = visible ? fmaf(static_cast<float>(s[t][i]), descale_qk, rc.shift[row]) : -INFINITY;
        chunk_max[row] = fmaxf(chunk_max[row], x[t][i]);
      }
    }
  }
#pragma unroll
  for (int o = kFirstLevel; o < 32; o <<= 1) {
    chunk_max[0] = fmaxf(chunk_max[0], __shfl_xor_sync(0xffffffffu, chunk_max[0], o));
    chunk_max[1] = fmaxf(chunk_max[1], __shfl_xor_sync(0xffffffffu, chunk_max[1], o));
  }
  if (args.skip_sparse_tiles) {
    bool kept = false;
#pragma unroll
    for (int t = 0; t < MT; ++t) {
#pragma unroll
      for (int i = 0; i < 4; ++i) kept |= x[t][i] > -INFINITY && x[t][i] >= w.m[i & 1] - threshold;
    }
    if (!__any_sync(0xffffffffu, kept)) return false;
  }
  float m_new[2], alpha[2], sum[2] = {0.f, 0.f}, pv_max[2] = {0.f, 0.f};
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    m_new[row] = fmaxf(chunk_max[row], w.m[row]);
    alpha[row] = m_new[row] == -INFINITY || w.m[row] == m_new[row] ? 1.f : decode_exp2(w.m[row] - m_new[row], args.exponent, threshold);
  }
  // A row with no visible key yet keeps m = −∞: its x are all −∞ and its p must be 0, not exp2(−∞ + ∞).
  const float m_shift[2] = {m_new[0] == -INFINITY ? 0.f : m_new[0], m_new[1] == -INFINITY ? 0.f : m_new[1]};
  const bool sas = args.exponent == kDecodeExponentSas;
#pragma unroll
  for (int t = 0; t < MT; ++t) {
#pragma unroll
    for (int i = 0; i < 4; i += 2) {
      // Both query rows of one key at once: SAS evaluates two scores per polynomial (sas_exp2_pair).
      const float x0 = x[t][i] - m_shift[0], x1 = x[t][i + 1] - m_shift[1];
      const float2 p = sas ? sas_exp2_pair(x0, x1, threshold) : make_float2(exp2f(x0), exp2f(x1));
      const int k = key[t][i >> 1];
      const float v_scale = kVBits != 8 ? c.v_scale[0] : k < c.n ? c.v_scale[k] : 0.f;
      sum[0] += p.x;
      sum[1] += p.y;
      x[t][i] = p.x * v_scale;  // p·s_v (a masked key has p = 0)
      x[t][i + 1] = p.y * v_scale;
      if constexpr (kVBits == 8) {
        pv_max[0] = fmaxf(pv_max[0], x[t][i]);
        pv_max[1] = fmaxf(pv_max[1], x[t][i + 1]);
      }
    }
  }
  if constexpr (kVBits == 8) {
    // A scale per token: the largest p·s_v is found among the keys.
#pragma unroll
    for (int o = kFirstLevel; o < 32; o <<= 1) {
      pv_max[0] = fmaxf(pv_max[0], __shfl_xor_sync(0xffffffffu, pv_max[0], o));
      pv_max[1] = fmaxf(pv_max[1], __shfl_xor_sync(0xffffffffu, pv_max[1], o));
    }
  } else {
    // One V scale per page: the largest p·s_v is the row's largest p (that of its largest logit, the same float
    // subtraction and exponent as that key's) times the scale — no reduction over the lanes. (Should SAS's polynomial
    // not be monotone to the last ulp, a key's p·s_v could exceed this by an ulp: its code still rounds to 127.)
    const float2 p_max = sas ? sas_exp2_pair(chunk_max[0] - m_shift[0], chunk_max[1] - m_shift[1], threshold)
                             : make_float2(exp2f(chunk_max[0] - m_shift[0]), exp2f(chunk_max[1] - m_shift[1]));
    pv_max[0] = p_max.x * c.v_scale[0];
    pv_max[1] = p_max.y * c.v_scale[0];
  }
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    if (m_new[row] == -INFINITY) continue;  // the row sees no key yet
    // The lane's partial sum (warp_row_total adds the row's lanes at the split's end).
    w.l[row] = alpha[row] * w.l[row] + sum[row];
    w.m[row] = m_new[row];
    if (alpha[row] != 1.f) {
      w.z[row] *= alpha[row];
#pragma unroll
      for (int t = 0; t < D / 16; ++t) {
        w.o[t][row] *= alpha[row];
        w.o[t][2 + row] *= alpha[row];
      }
    }
  }
  const float to_code[2] = {pv_max[0] > 0.f ? 127.f / pv_max[0] : 0.f, pv_max[1] > 0.f ? 127.f / pv_max[1] : 0.f};
  int zero_part[2] = {0, 0};
  // Packed: lanes q < 2 feed P̂·step's low 7 bits to the B columns of their rows, lanes q ≥ 2 its high part (nothing
  // for INT8 V, whose P̂ fits a byte).
  const bool high = kPacked && (lane & 3) >= 2;
  // Transposed per 8×8 block: the lane gets query row g, slots 2q, 2q + 1 (first) and 2q + 8, 2q + 9 (second).
  // Packed (one part per product, below 128): the tile's P̂ bytes in B order.
  const auto transposed = [&](const uint32_t (&folded)[4]) -> uint32_t {
    return __byte_perm(movmatrix_trans(folded[0] | folded[1] << 16), movmatrix_trans(folded[2] | folded[3] << 16), 0x6420);
  };
  // Unpacked: lo (low 7 bits) and hi parts of the products of tile t.
  const auto store_tile = [&](int t, const uint32_t (&folded)[4]) {
    const uint32_t first = movmatrix_trans(folded[0] | folded[1] << 16);
    const uint32_t second = movmatrix_trans(folded[2] | folded[3] << 16);
    const int kt = t >> 1, h = t & 1;
    if constexpr (kVBits == 8) {
      p_lo[kt][h] = __byte_perm(first, second, 0x6420);
    } else {
      p_lo[kt][h] = __byte_perm(first, second, 0x6420) & 0x7F7F7F7Fu;
      p_hi[kt][h] = __byte_perm((first >> 7) & 0x00FF00FFu, (second >> 7) & 0x00FF00FFu, 0x6420);
    }
  };
  // Packed: this lane's part of a product for its B columns (lo for q < 2, hi for q ≥ 2; INT8 V has no hi part).
  const auto part = [&](int product) -> uint32_t {
    return static_cast<uint32_t>(kVBits == 8 ? (high ? 0 : product) : high ? product >> 7 : product & 127);
  };
#pragma unroll
  for (int t = 0; t < MT; ++t) {
    int v_step[2] = {1, 1}, v_zero[2] = {0, 0};
    if constexpr (kVBits != 8) {
#pragma unroll
      for (int half_key = 0; half_key < 2; ++half_key) {
        const int k = key[t][half_key];
        v_step[half_key] = k < c.n ? c.v_step[k] : 0;  // keys past the chunk: p = 0 and nothing to add
        v_zero[half_key] = k < c.n ? c.v_zero[k] : 0;
      }
    }
    int product[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      // round-half-even(p·s_v·127 / max) as the oracle's min(127, max(0, ·)): the product lies in [0, 127·(1 + 2⁻²³)],
      // so the clamps never act.
      const int code = __float2int_rn(x[t][i] * to_code[i & 1]);
      product[i] = code * v_step[i >> 1];  // ≤ 127·85: 16 bits
      zero_part[i & 1] += code * v_zero[i >> 1];
    }
    if constexpr (kPacked) {
      // The partner's products of the other half's tile t, two 16-bit products per shuffle.
      const uint32_t mine01 = static_cast<uint32_t>(product[0]) | static_cast<uint32_t>(product[1]) << 16;
      const uint32_t mine23 = static_cast<uint32_t>(product[2]) | static_cast<uint32_t>(product[3]) << 16;
      const uint32_t other01 = __shfl_xor_sync(0xffffffffu, mine01, 2), other23 = __shfl_xor_sync(0xffffffffu, mine23, 2);
      const uint32_t own[4] = {part(product[0]), part(product[1]), part(product[2]), part(product[3])};
      const uint32_t theirs[4] = {part(static_cast<int>(other01 & 0xFFFFu)), part(static_cast<int>(other01 >> 16)), part(static_cast<int>(other23 & 0xFFFFu)),
                                  part(static_cast<int>(other23 >> 16))};
      // movmatrix is warp-wide: a lane receives the column (query row part) g of the source lanes q = g / 2, so what
      // it gets belongs to the tile of the source's half (g < 4: the lo lanes', g ≥ 4: the hi lanes'), not its own.
      // Selected, not indexed by the half: a run-time index would put p_lo in local memory.
      const uint32_t mine = transposed(own), partner = transposed(theirs);
      const bool high_column = g >= 4;
      p_lo[t >> 1][t & 1] = high_column ? partner : mine;
      p_lo[(MT + t) >> 1][(MT + t) & 1] = high_column ? mine : partner;
    } else {
      const uint32_t folded[4] = {static_cast<uint32_t>(product[0]), static_cast<uint32_t>(product[1]), static_cast<uint32_t>(product[2]),
                                  static_cast<uint32_t>(product[3])};
      store_tile(t, folded);
    }
  }
  descale[0] = pv_max[0] / 127.f;
  descale[1] = pv_max[1] / 127.f;
  if constexpr (kVBits != 8) {
    // V's zero term of the lane's keys, in the lane's partial z (summed over the row's lanes at the split's end).
    w.z[0] = fmaf(static_cast<float>(zero_part[0]), descale[0], w.z[0]);
    w.z[1] = fmaf(static_cast<float>(zero_part[1]), descale[1], w.z[1]);
  }
  return true;
}

// O += (V̂ᵀ·P̂ᵀ)·descale for a chunk (V codes channel-major in shared memory, k = tokens); V's zero term is in w.z.
// Packed: one MMA per k-tile whose B columns carry the rows' low parts (lanes q < 2 accumulate them) and high parts
// (lanes q ≥ 2, scaled by 128): O is linear, so the two halves are added once, at the split's end.
template <int D, int P, int kVBits, bool kPacked>
__device__ __forceinline__ void chunk_pv(WarpState<D>& w, const uint32_t (&p_lo)[k_tiles<P>()][2], const uint32_t (&p_hi)[k_tiles<P>()][2],
                                         const float (&descale)[2], const unsigned char* v_codes, int lane) {
  const int g = lane >> 2, q = lane & 3;
  constexpr int KT = k_tiles<P>();
#pragma unroll
  for (int t = 0; t < D / 16; ++t) {
    int32_t acc[4] = {0, 0, 0, 0}, acc_hi[4] = {0, 0, 0, 0};
    uint32_t ra[KT][2], rb[KT][2];
    expand_row<kVBits, P>(ra, v_codes, 16 * t + g, true, q);
    expand_row<kVBits, P>(rb, v_codes, 16 * t + g + 8, true, q);
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) {
      const uint32_t a[4] = {ra[kt][0], rb[kt][0], ra[kt][1], rb[kt][1]};
      if constexpr (kVBits == 8) {
        mma_s8_16832(acc, a, p_lo[kt][0], p_lo[kt][1]);
      } else {
        mma_u8s8_16832(acc, a, p_lo[kt][0], p_lo[kt][1]);
        if constexpr (!kPacked) mma_u8s8_16832(acc_hi, a, p_hi[kt][0], p_hi[kt][1]);
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      int total;
      if constexpr (kPacked) total = kVBits != 8 && (lane & 3) >= 2 ? acc[i] * 128 : acc[i];
      else total = kVBits == 8 ? acc[i] : acc_hi[i] * 128 + acc[i];
      w.o[t][i] = fmaf(static_cast<float>(total), descale[i & 1], w.o[t][i]);
    }
  }
}

// What a chunk's softmax hands its P·V: P̂ (folded with V's step) as B operands and the rows' descales.
template <int P>
struct ChunkP {
  uint32_t lo[k_tiles<P>()][2], hi[k_tiles<P>()][2];
  float descale[2];
};

// A chunk's front half for its K and V widths: logits, then the online softmax and P̂. False when SAS's sparse-tile
// skip drops the chunk (no P·V then).
template <int D, int P, int kKBits, int kVBits, bool kPacked>
__device__ __forceinline__ bool chunk_front_widths(WarpState<D>& w, ChunkP<P>& p, const unsigned char* k_codes, const int8_t* q_row, const uint8_t* k_step,
                                                   const int8_t* k_zero, const ChunkKeys& c, const RowConstants& rc, const DecodeArgs& args, int lane) {
  int32_t s[key_tiles<P>()][4];
  int z[2];
  page_logits<D, P, kKBits, kVBits, kPacked>(s, z, k_codes, q_row, k_step, k_zero, c.n, lane);
  return chunk_softmax<D, P, kKBits, kVBits, kPacked>(w, s, z, p.lo, p.hi, p.descale, c, rc, args, lane);
}

template <int D, int P, int kKBits, bool kPacked, bool kInt8Pages>
__device__ __forceinline__ bool chunk_front_v(WarpState<D>& w, ChunkP<P>& p, int v_bits, const unsigned char* k_codes, const int8_t* q_row, const uint8_t* k_step,
                                              const int8_t* k_zero, const ChunkKeys& c, const RowConstants& rc, const DecodeArgs& args, int lane) {
  if (kInt8Pages && v_bits == 8) return chunk_front_widths<D, P, kKBits, 8, kPacked>(w, p, k_codes, q_row, k_step, k_zero, c, rc, args, lane);
  if (v_bits == 4) return chunk_front_widths<D, P, kKBits, 4, kPacked>(w, p, k_codes, q_row, k_step, k_zero, c, rc, args, lane);
  return chunk_front_widths<D, P, kKBits, 2, kPacked>(w, p, k_codes, q_row, k_step, k_zero, c, rc, args, lane);
}

// The front half of a page whose K item is staged at `k_codes` and `meta` (DecodeMmaRing's offsets), dispatched on
// its K and V widths (8 among them only where the cache has INT8 pages: kInt8Pages). It reads the K item only, so the
// caller can refill it before the back half.
template <int D, int P, bool kPacked, bool kInt8Pages>
__device__ __forceinline__ bool chunk_front(WarpState<D>& w, ChunkP<P>& p, const DecodeMmaRing& ring, const unsigned char* k_codes, const unsigned char* meta,
                                            int k_bits, int v_bits, const int8_t* q_row, const ChunkKeys& c, const RowConstants& rc, const DecodeArgs& args,
                                            int lane) {
  const auto* k_step = reinterpret_cast<const uint8_t*>(meta + ring.k_step);
  const auto* k_zero = reinterpret_cast<const int8_t*>(meta + ring.k_zero);
  if (kInt8Pages && k_bits == 8) return chunk_front_v<D, P, 8, kPacked, kInt8Pages>(w, p, v_bits, k_codes, q_row, k_step, k_zero, c, rc, args, lane);
  if (k_bits == 4) return chunk_front_v<D, P, 4, kPacked, kInt8Pages>(w, p, v_bits, k_codes, q_row, k_step, k_zero, c, rc, args, lane);
  return chunk_front_v<D, P, 2, kPacked, kInt8Pages>(w, p, v_bits, k_codes, q_row, k_step, k_zero, c, rc, args, lane);
}

// A chunk's back half, P·V over its V codes, dispatched on V's width (instantiated per V width, not per width pair).
template <int D, int P, bool kPacked>
__device__ __forceinline__ void chunk_back(WarpState<D>& w, const ChunkP<P>& p, const unsigned char* v_codes, int v_bits, int lane) {
  if (v_bits == 8) chunk_pv<D, P, 8, kPacked>(w, p.lo, p.hi, p.descale, v_codes, lane);
  else if (v_bits == 4) chunk_pv<D, P, 4, kPacked>(w, p.lo, p.hi, p.descale, v_codes, lane);
  else chunk_pv<D, P, 2, kPacked>(w, p.lo, p.hi, p.descale, v_codes, lane);
}

// Where one page of a split lives: its K and V slots in their pools and both widths.
struct PageRef {
  int k_slot, v_slot, k_bits, v_bits;
};

// A split's page-table entries, 32 pages at a time in the warp's lanes (lane i holds page base + i): a page's slots and
// widths are a shuffle away, not two dependent global loads (L2 latency) ahead of every page's copy.
struct PageEntries {
  int base;
  int k_slot, v_slot, bits;  // bits: k_bits | v_bits << 8

  __device__ __forceinline__ void fetch(const DecodeArgs& args, int64_t table_row, int first, int end, int lane) {
    base = first;
    const int page = first + lane;
    k_slot = v_slot = bits = 0;
    if (page < end) {
      k_slot = __ldg(args.k.page_table + table_row + page);
      v_slot = __ldg(args.v.page_table + table_row + page);
      bits = __ldg(args.k.page_bits + table_row + page) | __ldg(args.v.page_bits + table_row + page) << 8;
    }
  }
  // Page `page` (base ≤ page < base + 32), read by every lane of the warp.
  __device__ __forceinline__ PageRef at(int page) const {
    const int i = page - base;
    const int b = __shfl_sync(0xffffffffu, bits, i);
    return {__shfl_sync(0xffffffffu, k_slot, i), __shfl_sync(0xffffffffu, v_slot, i), b & 0xFF, b >> 8};
  }
};

// Starts the asynchronous copy of one tensor's page codes (K pages are token-major [P, D], V pages channel-major
// [D, P], codes packed along their rows) into a swizzled matrix.
template <int kRows, int kCols>
__device__ __forceinline__ void load_codes_async(unsigned char* codes, const DecodeTensorArgs& tensor, int bits, int slot, int lane) {
  const DecodePoolArgs pool = pool_of(tensor, bits);
  const auto* page = reinterpret_cast<const unsigned char*>(pool.codes) + static_cast<int64_t>(slot) * (kRows * kCols * bits / 8);
  if (bits == 8) copy_matrix_async<kRows, kCols>(codes, page, lane);
  else if (bits == 4) copy_matrix_async<kRows, kCols / 2>(codes, page, lane);
  else copy_matrix_async<kRows, kCols / 4>(codes, page, lane);
}

// ... and of its small per-page data: step/zero per column (kCols) and one scale (INT4/INT2), or a scale per token.
template <int kCols, int kTokens>
__device__ __forceinline__ void load_meta_async(unsigned char* step, unsigned char* zero, unsigned char* scales, const DecodeTensorArgs& tensor, int bits, int slot,
                                                int lane) {
  const DecodePoolArgs pool = pool_of(tensor, bits);
  if (bits == 8) {
    copy_bytes_async(scales, pool.scales + static_cast<int64_t>(slot) * kTokens, kTokens * 4, lane);
    return;
  }
  copy_bytes_async(step, pool.step + static_cast<int64_t>(slot) * kCols, kCols, lane);
  copy_bytes_async(zero, pool.zero + static_cast<int64_t>(slot) * kCols, kCols, lane);
  if (lane == 0) cp_async_4(smem_u32(scales), pool.scales + slot);
}

// The code pools' tensor maps (TMA boxes of one page), K's and V's per width (indexed as DecodeTensorArgs::pools),
// built by the launcher where the sm_90a kernel runs. Pages whose rows are 16 bytes or fewer are not swizzled (see
// `swizzled`) and travel as one bulk copy: their maps are unused.
struct DecodeMmaMaps {
  CUtensorMap k[kDecodePools], v[kDecodePools];
};

[[maybe_unused]] __host__ __device__ inline int pool_index(int bits) { return bits == 8 ? 0 : bits == 4 ? 1 : 2; }

// Whether a page's rows (bytes) are swizzled in shared memory, which is TMA's SWIZZLE_32B / 64B / 128B pattern
// exactly for rows of 32 / 64 / 128 bytes (`swizzled`: chunk c of row r at c ^ ((r / (128 / row_bytes)) mod chunks),
// TMA: address bits [4, 4 + s) XOR bits [7, 7 + s)), given a destination aligned to the pattern's period.
__host__ __device__ constexpr bool rows_swizzled(int row_bytes) { return row_bytes >= 32; }

// A page's K item (K codes and both tensors' per-page data) and V item (V codes). sm_90a: lane 0 issues each item as
// TMA / bulk copies completing on the slot's mbarrier (the per-page scale of INT4/INT2 pages, 4 bytes, by cp.async,
// tracked by the same barrier: its second arrival); elsewhere every lane issues cp.async and commits one group per
// item (an empty one for a page past the split, so the group count a wait needs is fixed).
#ifdef QATTN_SM90A_DEVICE_CODE
// One tensor's per-page data (as load_meta_async, by one lane): step/zero per column (kCols) by bulk copies and the
// page's one scale (INT4/INT2) by cp.async, or a scale per token by a bulk copy — all completing on `bar` (the caller
// adds the cp.async arrival).
template <int kCols, int kTokens>
__device__ __forceinline__ void bulk_meta(uint32_t step, uint32_t zero, uint32_t scales, const DecodePoolArgs& pool, int bits, int slot, uint32_t bar) {
  if (bits == 8) {
    bulk_load(scales, pool.scales + static_cast<int64_t>(slot) * kTokens, kTokens * 4, bar);
    return;
  }
  bulk_load(step, pool.step + static_cast<int64_t>(slot) * kCols, kCols, bar);
  bulk_load(zero, pool.zero + static_cast<int64_t>(slot) * kCols, kCols, bar);
  cp_async_4(scales, pool.scales + slot);
}
#endif

// TMA and bulk copies take their operands in uniform registers; an operand the compiler cannot prove warp-uniform is
// moved there by a loop over the active lanes per instruction (R2UR / ELECT / VOTEU: ~80 of the ~265 SASS instructions
// a page's item issue took in the H200 profile of 2026-12-03e). A shuffle from a fixed lane is uniform to it, so the
// issue takes lane 0's copy of the page reference and of its shared-memory addresses (the warp index they derive from,
// threadIdx.x >> 5, it cannot prove uniform; making that one uniform instead cost 48 bytes of spills).
__device__ __forceinline__ int uniform(int value) { return __shfl_sync(0xffffffffu, value, 0); }
__device__ __forceinline__ uint32_t uniform(uint32_t value) { return __shfl_sync(0xffffffffu, value, 0); }
__device__ __forceinline__ PageRef uniform_page(const PageRef& page) { return {uniform(page.k_slot), uniform(page.v_slot), uniform(page.k_bits), uniform(page.v_bits)}; }

template <int D, int P, int kRing>
__device__ __forceinline__ void issue_k_item(const WarpSmem<kRing>& ws, int i, const DecodeArgs& args, const DecodeMmaMaps& maps, const PageRef& ref, bool live,
                                             int lane) {
  unsigned char* meta = ws.meta_of(i);
#ifdef QATTN_SM90A_DEVICE_CODE
  if (!live) return;  // warp-uniform
  const PageRef page = uniform_page(ref);
  const uint32_t codes_dst = uniform(smem_u32(ws.k_codes(i))), meta_dst = uniform(smem_u32(meta)), bar = uniform(ws.k_barrier(i));
  if (lane != 0) return;
  const DecodePoolArgs kp = pool_of(args.k, page.k_bits), vp = pool_of(args.v, page.v_bits);
  const int k_row_bytes = D * page.k_bits / 8;
  const uint32_t tx = P * k_row_bytes + (page.k_bits == 8 ? P * 4 : 2 * D) + (page.v_bits == 8 ? P * 4 : 2 * P);
  fence_proxy_async_shared();  // the warp's reads of the slot (ordered by the caller's __syncwarp) before TMA's writes
  mbarrier_arrive_expect_tx(bar, tx);
  const auto* k_page = reinterpret_cast<const unsigned char*>(kp.codes) + static_cast<int64_t>(page.k_slot) * (P * k_row_bytes);
  const uint64_t stream = l2_evict_first_policy();  // the page's codes are read once per step
  if (rows_swizzled(k_row_bytes)) tma_load_2d_hinted(codes_dst, &maps.k[pool_index(page.k_bits)], 0, page.k_slot * P, bar, stream);
  else bulk_load_hinted(codes_dst, k_page, P * k_row_bytes, bar, stream);
  bulk_meta<D, P>(meta_dst + ws.ring.k_step, meta_dst + ws.ring.k_zero, meta_dst + ws.ring.k_scales, kp, page.k_bits, page.k_slot, bar);
  bulk_meta<P, P>(meta_dst + ws.ring.v_step, meta_dst + ws.ring.v_zero, meta_dst + ws.ring.v_scales, vp, page.v_bits, page.v_slot, bar);
  cp_async_mbarrier_arrive_noinc(bar);
#else
  (void)maps;
  const PageRef& page = ref;
  if (live) {
    load_codes_async<P, D>(ws.k_codes(i), args.k, page.k_bits, page.k_slot, lane);
    load_meta_async<D, P>(meta + ws.ring.k_step, meta + ws.ring.k_zero, meta + ws.ring.k_scales, args.k, page.k_bits, page.k_slot, lane);
    load_meta_async<P, P>(meta + ws.ring.v_step, meta + ws.ring.v_zero, meta + ws.ring.v_scales, args.v, page.v_bits, page.v_slot, lane);
  }
  cp_async_commit();
#endif
}
template <int D, int P, int kRing>
__device__ __forceinline__ void issue_v_item(const WarpSmem<kRing>& ws, int i, const DecodeArgs& args, const DecodeMmaMaps& maps, const PageRef& ref, bool live,
                                             int lane) {
#ifdef QATTN_SM90A_DEVICE_CODE
  if (!live) return;  // warp-uniform
  const PageRef page = uniform_page(ref);
  const uint32_t codes_dst = uniform(smem_u32(ws.v_codes(i))), bar = uniform(ws.v_barrier(i));
  if (lane != 0) return;
  const DecodePoolArgs vp = pool_of(args.v, page.v_bits);
  const int v_row_bytes = P * page.v_bits / 8;
  fence_proxy_async_shared();
  mbarrier_arrive_expect_tx(bar, D * v_row_bytes);
  const auto* v_page = reinterpret_cast<const unsigned char*>(vp.codes) + static_cast<int64_t>(page.v_slot) * (D * v_row_bytes);
  const uint64_t stream = l2_evict_first_policy();
  if (rows_swizzled(v_row_bytes)) tma_load_2d_hinted(codes_dst, &maps.v[pool_index(page.v_bits)], 0, page.v_slot * D, bar, stream);
  else bulk_load_hinted(codes_dst, v_page, D * v_row_bytes, bar, stream);
#else
  (void)maps;
  const PageRef& page = ref;
  if (live) load_codes_async<D, P>(ws.v_codes(i), args.v, page.v_bits, page.v_slot, lane);
  cp_async_commit();
#endif
}

// Waits for page i's K item (and at kRing 2 its V item too: both halves run back to back), then for its V item
// (kRing 1, after the K item's refill was issued). cp.async: the group counts of run_split's issue order.
template <int kRing>
__device__ __forceinline__ void wait_front(const WarpSmem<kRing>& ws, int i) {
#ifdef QATTN_SM90A_DEVICE_CODE
  mbarrier_wait(ws.k_barrier(i), ws.parity(i));
  if constexpr (kRing == 2) mbarrier_wait(ws.v_barrier(i), ws.parity(i));
#else
  (void)ws, (void)i;
  if constexpr (kRing == 1) cp_async_wait<1>();
  else cp_async_wait<2>();
#endif
  __syncwarp();  // every lane's copies have landed (cp.async: each lane waited for its own)
}
template <int kRing>
__device__ __forceinline__ void wait_back(const WarpSmem<kRing>& ws, int i) {
  static_assert(kRing == 1, "kRing 2 waits for both items in wait_front");
#ifdef QATTN_SM90A_DEVICE_CODE
  mbarrier_wait(ws.v_barrier(i), ws.parity(i));
#else
  (void)ws, (void)i;
  cp_async_wait<1>();
#endif
  __syncwarp();
}

// The INT8 buffer (the newest n < pageSize tokens, token-major K and V with per-token scales) into a stage laid out
// for INT8: K rows as they are, V transposed to channel-major, 4 tokens × 4 channels per lane at a time (four
// coalesced 32-bit loads, eight byte permutes, four stores); keys past n get zero codes and zero scales, so they add
// nothing (their logits are masked too). It is one split's tail: every load is issued before any is used, so the
// tail costs about one memory latency, not one per loop trip.
template <int D, int P>
__device__ void load_buffer(unsigned char* k_dst, unsigned char* v_dst, float* k_scales, float* v_scales, const DecodeArgs& args, int64_t group, int n, int lane) {
  const int8_t* k_codes = args.k.buffer_codes + group * P * D;
  const int8_t* v_codes = args.v.buffer_codes + group * P * D;
  // K rows as they are, asynchronously (zero-filled past n), while the V words come in below.
#pragma unroll
  for (int chunk = lane; chunk < P * D / 16; chunk += 32) {
    const int t = chunk / (D / 16), byte = (chunk % (D / 16)) * 16;
    cp_async_16_or_zero(smem_u32(k_dst + swizzled(t, byte, D)), k_codes + (t < n ? chunk * 16 : 0), t < n);
  }
  cp_async_commit();
  // V: every load of this lane first (all in flight at once: the buffer is likely out of L2 by now), then the 4×4
  // byte transposes.
  constexpr int kBlocks = (P / 4) * (D / 4) / 32;
  uint32_t w[kBlocks][4];
#pragma unroll
  for (int i = 0; i < kBlocks; ++i) {
    const int block = lane + 32 * i;
    const int t0 = (block / (D / 4)) * 4, c0 = (block % (D / 4)) * 4;
#pragma unroll
    for (int e = 0; e < 4; ++e) w[i][e] = t0 + e < n ? __ldg(reinterpret_cast<const uint32_t*>(v_codes + (t0 + e) * D + c0)) : 0u;
  }
#pragma unroll
  for (int t = lane; t < P; t += 32) {
    k_scales[t] = t < n ? __ldg(args.k.buffer_scales + group * P + t) : 0.f;
    v_scales[t] = t < n ? __ldg(args.v.buffer_scales + group * P + t) : 0.f;
  }
#pragma unroll
  for (int i = 0; i < kBlocks; ++i) {
    const int block = lane + 32 * i;
    const int t0 = (block / (D / 4)) * 4, c0 = (block % (D / 4)) * 4;
    const uint32_t lo01 = __byte_perm(w[i][0], w[i][1], 0x5140), hi01 = __byte_perm(w[i][0], w[i][1], 0x7362);
    const uint32_t lo23 = __byte_perm(w[i][2], w[i][3], 0x5140), hi23 = __byte_perm(w[i][2], w[i][3], 0x7362);
    *reinterpret_cast<uint32_t*>(v_dst + swizzled(c0 + 0, t0, P)) = __byte_perm(lo01, lo23, 0x5410);
    *reinterpret_cast<uint32_t*>(v_dst + swizzled(c0 + 1, t0, P)) = __byte_perm(lo01, lo23, 0x7632);
    *reinterpret_cast<uint32_t*>(v_dst + swizzled(c0 + 2, t0, P)) = __byte_perm(hi01, hi23, 0x5410);
    *reinterpret_cast<uint32_t*>(v_dst + swizzled(c0 + 3, t0, P)) = __byte_perm(hi01, hi23, 0x7632);
  }
  cp_async_wait<0>();
}

// The sink (float32 K and V against the unquantized rotated q) in fp32 on the CUDA cores, as the oracle does: the
// scores of all rows into the warp's scratch, then each lane updates its two query rows' state and output channels.
template <int D, bool kPacked>
__device__ void run_sink(WarpState<D>& w, float* sink_scores, const float* q_rot, const int* last_key, int rows, int sink_n,
                         const DecodeArgs& args, int64_t group, int lane) {
  const int S = args.sink_tokens;
  const float* k_sink = args.k.sink + group * S * D;
  const float* v_sink = args.v.sink + group * S * D;
  const float threshold = args.exponent == kDecodeExponentSas ? args.sas_threshold : INFINITY;
  // Scores: the warp splits each dot product over channels (coalesced loads of the sink's K rows, L1 hits since the
  // entry's prefetch) and reduces it, a token at a time.
  for (int t = 0; t < sink_n; ++t) {
    float k[D / 32];
#pragma unroll
    for (int i = 0; i < D / 32; ++i) k[i] = __ldg(k_sink + t * D + lane + 32 * i);
#pragma unroll
    for (int row = 0; row < kRows; ++row) {
      // Rows past the tile's (packed GQA 4:1: half of them) see no key; no reduction for them (warp-uniform).
      float part = 0.f;
      if (row < rows) {
#pragma unroll
        for (int i = 0; i < D / 32; ++i) part = fmaf(q_rot[row * D + lane + 32 * i], k[i], part);
        part = warp_sum(part);
      }
      if (lane == 0) sink_scores[row * S + t] = row < rows && t <= last_key[row] ? part * args.sm_scale_log2 : -INFINITY;
    }
  }
  __syncwarp();
  const int r = lane >> 2, q = lane & 3;
  // Packed: the lane pair (q, q ^ 2) keeps the same rows' state; only the low lane adds the sink to O (the high lane's
  // accumulators hold the pages' high parts).
  const int row0 = kPacked ? (2 * q) & 3 : 2 * q;
  const bool adds = !kPacked || q < 2;
  const float* x_row[2] = {sink_scores + row0 * S, sink_scores + (row0 + 1) * S};
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
  float sum[2] = {0.f, 0.f};
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    if (m_new[row] == -INFINITY) continue;
    w.z[row] *= alpha[row];
#pragma unroll
    for (int t = 0; t < D / 16; ++t) {
      w.o[t][row] *= alpha[row];
      w.o[t][2 + row] *= alpha[row];
    }
  }
  // P·V over the sink, a token's V row at a time: the rows are in this SM's L1 (prefetched at the kernel's entry), so
  // a load costs an L1 hit, and this is the kernel's register peak (the split's whole O beside the sink's operands).
  for (int t = 0; t < sink_n; ++t) {
    float v[D / 16][2];
#pragma unroll
    for (int ct = 0; ct < D / 16; ++ct) {
      v[ct][0] = __ldg(v_sink + t * D + 16 * ct + r);
      v[ct][1] = __ldg(v_sink + t * D + 16 * ct + r + 8);
    }
#pragma unroll
    for (int row = 0; row < 2; ++row) {
      if (m_new[row] == -INFINITY) continue;
      const float p = decode_exp2(x_row[row][t] - m_new[row], args.exponent, threshold);
      sum[row] += p;
      if (!adds) continue;
#pragma unroll
      for (int ct = 0; ct < D / 16; ++ct) {
        w.o[ct][row] = fmaf(p, v[ct][0], w.o[ct][row]);
        w.o[ct][2 + row] = fmaf(p, v[ct][1], w.o[ct][2 + row]);
      }
    }
  }
  // Every lane summed the whole sink; l is a per-lane partial (WarpState), so one lane of the row's lanes adds it.
  const bool sum_owner = r == 0 && adds;
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    if (m_new[row] == -INFINITY) continue;
    w.l[row] = alpha[row] * w.l[row] + (sum_owner ? sum[row] : 0.f);
    w.m[row] = m_new[row];
  }
  __syncwarp();  // the scratch is free again
}

// What a CTA knows about its (sequence, kv head, row tile) and the splits of that sequence.
struct SplitGeometry {
  int b, g, tile, length, sink_n, pages, buffer_n, splits, rows_total, row0, rows;
  int64_t group;
};

// One warp's split: the sink (split 0), its pages through the ring of K and V items, the buffer (last split), then the
// split's state — O / l per row and lse₂ = m + log2 l (base 2; the combine converts). The first pages' copies were
// started by the caller, before the query prologue.
template <int D, int P, bool kPacked, int kRing>
__device__ __forceinline__ void run_split(const DecodeArgs& args, const DecodeMmaMaps& maps, const SplitGeometry& sg, int split, const WarpSmem<kRing>& ws,
                          PageEntries& entries, const int8_t* q_int8, const float* q_rot, const float* q_scale, const float* q_shift, const int* last_key,
                          int lane) {
  const int S = args.sink_tokens;
  const int r = lane >> 2, q = lane & 3;
  const int8_t* q_row = q_int8 + (kPacked ? r & 3 : r) * D;  // the query row of this lane's B operand
  const int row0 = kPacked ? (2 * q) & 3 : 2 * q;             // this lane's C rows: row0, row0 + 1
  WarpState<D> w;
#pragma unroll
  for (int t = 0; t < D / 16; ++t) w.o[t][0] = w.o[t][1] = w.o[t][2] = w.o[t][3] = 0.f;
  w.m[0] = w.m[1] = -INFINITY;
  w.l[0] = w.l[1] = 0.f;
  w.z[0] = w.z[1] = 0.f;
  RowConstants rc;
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    rc.scale[row] = q_scale[row0 + row];
    rc.shift[row] = q_shift[row0 + row];
    rc.last_key[row] = last_key[row0 + row];
  }

  const int first_page = split * args.pages_per_split;
  const int last_page = min(sg.pages, first_page + args.pages_per_split);
  const int64_t table_row = sg.group * args.max_pages;
  // The sink first, while the ring's first pages are in flight. Run after the pages instead (when its L2 prefetch has
  // landed), split 0 was slower still: 2–3 µs more per step at 4K keys on the H200, its sink now in series with the
  // rest of its work (apps/bench/reports/h200-issue9/2026-12-04).
  if (split == 0 && sg.sink_n > 0) run_sink<D, kPacked>(w, ws.sink, q_rot, last_key, sg.rows, sg.sink_n, args, sg.group, lane);
  QATTN_DECODE_PROBE(3);

  // The ring: the kernel's prologue issued the items of the split's first kRing pages (issue_k_item, issue_v_item).
  //   kRing 1 (INT8 room): page i + 1's K item is copied into page i's slot once the front half is done with it
  //     (during P·V), its V item after P·V.
  //   kRing 2 (INT4/INT2 room): page i + 2's items are copied after page i, so the front and back halves run back to
  //     back (the compiler interleaves P·V's shared loads with the softmax's tail; a refill between them would fence
  //     that off: 2–4% slower in the H200 run of the split refill).
  // The page entries of the pages in flight are carried along rather than shuffled again.
  PageRef in_flight0 = first_page < last_page ? entries.at(first_page) : PageRef{};
  PageRef in_flight1 = kRing == 2 && first_page + 1 < last_page ? entries.at(first_page + 1) : PageRef{};
  for (int page = first_page; page < last_page; ++page) {
    const int i = page - first_page;
    const PageRef current = in_flight0;
    wait_front(ws, i);
    if (i == 0) QATTN_DECODE_PROBE(4);
    const unsigned char* meta = ws.meta_of(i);
    const ChunkKeys c{P,
                      S + page * P,
                      reinterpret_cast<const float*>(meta + ws.ring.k_scales),
                      reinterpret_cast<const float*>(meta + ws.ring.v_scales),
                      reinterpret_cast<const uint8_t*>(meta + ws.ring.v_step),
                      reinterpret_cast<const int8_t*>(meta + ws.ring.v_zero)};
    ChunkP<P> p;
    // Only an INT8-room cache (kRing 1) has INT8 pages.
    const bool keep = chunk_front<D, P, kPacked, kRing == 1>(w, p, ws.ring, ws.k_codes(i), meta, current.k_bits, current.v_bits, q_row, c, rc, args, lane);
    const int ahead = page + kRing;
    PageRef ahead_ref{};
    if (ahead < last_page) {
      if (ahead - entries.base == 32) entries.fetch(args, table_row, page + 1, last_page, lane);
      ahead_ref = entries.at(ahead);
    }
    if constexpr (kRing == 1) {
      __syncwarp();  // the K item is free
      issue_k_item<D, P>(ws, i + kRing, args, maps, ahead_ref, ahead < last_page, lane);
      wait_back(ws, i);
    }
    if (keep) chunk_back<D, P, kPacked>(w, p, ws.v_codes(i), current.v_bits, lane);
    __syncwarp();  // the page's items are free
    if constexpr (kRing == 2) issue_k_item<D, P>(ws, i + kRing, args, maps, ahead_ref, ahead < last_page, lane);
    issue_v_item<D, P>(ws, i + kRing, args, maps, ahead_ref, ahead < last_page, lane);
    if constexpr (kRing == 1) {
      in_flight0 = ahead_ref;
    } else {
      in_flight0 = in_flight1;
      in_flight1 = ahead_ref;
    }
  }
#ifndef QATTN_SM90A_DEVICE_CODE
  cp_async_wait<0>();  // the trailing (empty) groups; with TMA every issued item was waited for at its page
#endif

  QATTN_DECODE_PROBE(5);
  if (split == sg.splits - 1 && sg.buffer_n > 0) {
    // The buffer takes the whole ring (decode_mma_buffer_layout, decode_mma_buffer_fits).
    const DecodeMmaBufferLayout buffer_layout = decode_mma_buffer_layout(D, P);
    auto* k_scales = reinterpret_cast<float*>(ws.meta + buffer_layout.k_scales);
    auto* v_scales = reinterpret_cast<float*>(ws.meta + buffer_layout.v_scales);
    __syncwarp();
    load_buffer<D, P>(ws.codes, ws.codes + buffer_layout.v_codes, k_scales, v_scales, args, sg.group, sg.buffer_n, lane);
    __syncwarp();
    const ChunkKeys c{sg.buffer_n, S + sg.pages * P, k_scales, v_scales, nullptr, nullptr};
    ChunkP<P> p;
    const bool keep = chunk_front_widths<D, P, 8, 8, kPacked>(w, p, ws.codes, q_row, nullptr, nullptr, c, rc, args, lane);
    if (keep) chunk_back<D, P, kPacked>(w, p, ws.codes + buffer_layout.v_codes, 8, lane);
  }

  QATTN_DECODE_PROBE(6);
  if constexpr (kPacked) {
    // O = low part (lanes q < 2) + high part (their partners q + 2); the low lanes write it.
#pragma unroll
    for (int t = 0; t < D / 16; ++t) {
#pragma unroll
      for (int i = 0; i < 4; ++i) w.o[t][i] += __shfl_xor_sync(0xffffffffu, w.o[t][i], 2);
    }
  }
  // The per-lane partials summed over the row's lanes; V's zero term joins every channel of O.
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    w.l[row] = warp_row_total<kPacked>(w.l[row]);
    const float z = warp_row_total<kPacked>(w.z[row]);
#pragma unroll
    for (int t = 0; t < D / 16; ++t) {
      w.o[t][row] += z;
      w.o[t][2 + row] += z;
    }
  }
  const int64_t state_row0 = (sg.group * args.max_splits + split) * sg.rows_total + sg.row0;
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    const int tile_row = 2 * q + row;  // packed: lanes q ≥ 2 name rows ≥ 4 = past the tile's rows
    if (tile_row >= sg.rows) continue;
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
  QATTN_DECODE_PROBE(7);
}

// The fused combine, run by the CTA that finishes a row tile last: lse = log Σ e^lse_s and out = Σ out_s·e^(lse_s − lse)
// per query row (the merge decode_combine_kernel does for the SIMT path, the same arithmetic in the same split order),
// then the output un-rotated. It runs after every split of the tile, on the step's critical path, where the memory
// system is still busy with other tiles' pages: each dependent round of loads costs about a microsecond there (H200
// timeline probe, apps/bench/reports/h200-issue9/2026-12-04: 43 splits' sums in register trips of 4 took 7.2 µs,
// warm code or cold; a version with four dependent rounds of lse loads took 4.6 µs before its sums). So it is shaped
// by rounds, not bytes: the split states are staged into the warps' rings (free now) by cp.async, `chunk` splits per
// half of the ring, two halves in flight, each refilled as soon as it has been summed; every split's lse comes in the
// same round (into the ring's head when it takes at most a quarter of it — hd128, pages of 64: up to 4300 (split,
// row) pairs — else per chunk, beside its states), and the row statistics and the weights are computed from shared
// memory. Two rounds when the states
// fit two halves, one more per further pair. The states were written by other CTAs: they are read through L2 (ld.cg,
// cp.async.cg), never from a possibly stale L1 line.
template <int D>
__device__ void combine_tile(const DecodeArgs& args, const SplitGeometry& sg, float* row_out, float* row_max, float* row_sum, unsigned char* scratch,
                             int scratch_bytes, int warp, int warps, int lane) {
  const int64_t state0 = sg.group * args.max_splits * sg.rows_total + sg.row0;  // split 0's first row of the tile
  const float* lse = args.partial_lse + state0;
  const int64_t split_stride = sg.rows_total;  // between one split's row and the next split's, in lse entries
  const int rows = sg.rows, splits = sg.splits, quads = rows * (D / 4);
  // Every split's lse [split][row] at the head of the scratch when it takes at most a quarter of it (`staged`), then
  // two halves; without the head, each half starts with its chunk's lse values. A half's states [split][row][D].
  const int all_lse_bytes = decode_align16(splits * rows * 4);
  const bool staged = 4 * all_lse_bytes <= scratch_bytes && decode_mma_merge_chunk(((scratch_bytes - all_lse_bytes) / 2) & ~15, rows, D) >= 1;
  const int head_bytes = staged ? all_lse_bytes : 0;
  const int half_bytes = ((scratch_bytes - head_bytes) / 2) & ~15;
  const int chunk = decode_mma_merge_chunk(half_bytes, rows, D);
  const int chunk_lse_bytes = staged ? 0 : decode_align16(chunk * rows * 4);
  const int chunks = (splits + chunk - 1) / chunk;
  auto* all_weights = reinterpret_cast<float*>(scratch);  // staged: lse values, then (in place) the weights
  auto half_of = [&](int c) { return scratch + head_bytes + (c & 1) * half_bytes; };
  auto weights_of = [&](int c) { return staged ? all_weights + c * chunk * rows : reinterpret_cast<float*>(half_of(c)); };
  auto states_of = [&](int c) { return reinterpret_cast<float4*>(half_of(c) + chunk_lse_bytes); };
  // Chunk c's states into its half by cp.async (one group per thread and chunk, empty past the last chunk, so the waits
  // below count the same groups on every thread).
  auto issue = [&](int c) {
    const int s0 = c * chunk, n = c < chunks ? min(chunk, splits - s0) : 0;
    float4* states = states_of(c);
    for (int i = threadIdx.x; i < n * quads; i += blockDim.x) {
      const int s = i / quads, pair = i % quads;  // pair = row · D/4 + quad: a split's rows are contiguous
      cp_async_16(smem_u32(states + i), args.partial_out + (state0 + (s0 + s) * split_stride) * D + 4 * pair);
    }
    cp_async_commit();
  };
  // The lse values of splits [s0, s0 + n) into dst [split][row]: loads all issued before the stores that wait for them.
  auto load_lse = [&](float* dst, int s0, int n) {
    for (int i = threadIdx.x; i < n * rows; i += blockDim.x) dst[i] = __ldcg(lse + (s0 + i / rows) * split_stride + i % rows);
  };
  // A weight e^(lse_s − m)/Σ in place of its lse (an exponent and an IEEE division: once per (split, row), not per quad).
  auto to_weights = [&](float* w, int n) {
    for (int i = threadIdx.x; i < n * rows; i += blockDim.x) {
      const float m = row_max[i % rows], sum = row_sum[i % rows];
      w[i] = m != -INFINITY && sum > 0.f ? exp2f(w[i] - m) / sum : 0.f;
    }
  };
  issue(0);
  issue(1);
  if (staged) {
    load_lse(all_weights, 0, splits);
    __syncthreads();
  } else {
    load_lse(weights_of(0), 0, min(chunk, splits));
    if (chunks > 1) load_lse(weights_of(1), chunk, min(chunk, splits - chunk));
  }
  for (int r = warp; r < rows; r += warps) {
    float m = -INFINITY;
    for (int s = lane; s < splits; s += 32) m = fmaxf(m, staged ? all_weights[s * rows + r] : __ldcg(lse + s * split_stride + r));
    m = warp_max(m);
    float sum = 0.f;
    for (int s = lane; s < splits; s += 32) sum += m == -INFINITY ? 0.f : exp2f((staged ? all_weights[s * rows + r] : __ldcg(lse + s * split_stride + r)) - m);
    sum = warp_sum(sum);
    if (lane == 0) row_max[r] = m, row_sum[r] = sum;
  }
  __syncthreads();  // the statistics; every lse value read
  if (staged) to_weights(all_weights, splits);
  QATTN_DECODE_PROBE(10);
  for (int c = 0; c < chunks; ++c) {
    cp_async_wait<1>();  // this thread's copies of chunk c have landed (c + 1's may not have)
    const int n = min(chunk, splits - c * chunk);
    if (!staged) to_weights(weights_of(c), n);  // its own values: the loads and stores that wait were this thread's
    __syncthreads();  // everyone's copies and weights
    const float* weights = weights_of(c);
    const float4* states = states_of(c);
    for (int pair = threadIdx.x; pair < quads; pair += blockDim.x) {
      const int r = pair / (D / 4);
      float4 acc = c == 0 ? make_float4(0.f, 0.f, 0.f, 0.f) : reinterpret_cast<const float4*>(row_out)[pair];
      for (int s = 0; s < n; ++s) {
        const float w = weights[s * rows + r];
        // A split without a visible key has lse −∞: weight 0, and its stored O must not turn into 0·∞.
        if (w == 0.f) continue;
        const float4 v = states[s * quads + pair];
        acc.x = fmaf(w, v.x, acc.x);
        acc.y = fmaf(w, v.y, acc.y);
        acc.z = fmaf(w, v.z, acc.z);
        acc.w = fmaf(w, v.w, acc.w);
      }
      reinterpret_cast<float4*>(row_out)[pair] = acc;
    }
    __syncthreads();  // the half is summed: chunk c + 2 may take it
    issue(c + 2);
    if (!staged && c + 2 < chunks) load_lse(weights_of(c + 2), (c + 2) * chunk, min(chunk, splits - (c + 2) * chunk));
  }
  cp_async_wait<0>();  // the trailing empty groups
  QATTN_DECODE_PROBE(11);
  __syncthreads();
  for (int r = warp; r < sg.rows; r += warps) {
    float* row = row_out + r * D;
    float sign[D / 32];  // loaded before the rotation, which hides their latency
#pragma unroll
    for (int j = 0; j < D / 32; ++j) sign[j] = args.rotation_signs ? __ldg(args.rotation_signs + lane + 32 * j) : 1.f;
    if (args.rotation_signs) warp_walsh_hadamard(row, D, lane);
    const int global_row = sg.row0 + r;
    const int h = sg.g * (args.heads / args.kv_heads) + global_row / args.query_tokens;
    const int64_t out_row = static_cast<int64_t>(sg.b * args.heads + h) * args.query_tokens + global_row % args.query_tokens;
    const float norm = args.rotation_signs ? rsqrtf(static_cast<float>(D)) : 1.f;
#pragma unroll
    for (int j = 0; j < D / 32; ++j) {
      const int d = lane + 32 * j;
      args.out[out_row * D + d] = args.rotation_signs ? row[d] * sign[j] * norm : row[d];
    }
    if (lane == 0 && args.lse != nullptr) {
      args.lse[out_row] = row_sum[r] > 0.f ? (row_max[r] + log2f(row_sum[r])) * 0.69314718055994531f : -INFINITY;
    }
  }
}

// kPacked: the tile has at most 4 query rows (decode_mma_packed), whose low and high parts share the MMAs' n = 8.
// `maps`: the code pools' tensor maps, read by the sm_90a image only (the launcher builds them on 9.0 devices).
template <int D, int P, bool kPacked, int kRing>
__global__ void __launch_bounds__(kDecodeMmaWarps * 32, 3) decode_split_mma_kernel(const DecodeArgs args, const __grid_constant__ DecodeMmaMaps maps) {
  // The ring's code blocks are TMA destinations of swizzled boxes and need a 1024-byte aligned base (decode_mma.h
  // DecodeMmaRing). A CTA's dynamic shared memory starts right after its 1 KB reserved for the system, at byte 1024
  // of its window, when the kernel has no static shared variables (measured on the H200:
  // apps/bench/reports/h200-issue9/2026-12-03e; with them it did not), so everything lives in the dynamic part; the
  // sm_90a image checks the alignment below. Rounding the base up instead would cost 1 KB per CTA that 3 CTAs per SM
  // do not have.
  extern __shared__ __align__(16) unsigned char smem_raw[];
  QATTN_DECODE_PROBE(0);
  SplitGeometry sg;
  sg.b = blockIdx.z;
  sg.g = blockIdx.y / args.row_tiles;
  sg.tile = blockIdx.y % args.row_tiles;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  sg.rows_total = args.heads / args.kv_heads * args.query_tokens;
  sg.row0 = sg.tile * args.rows_per_tile;
  sg.rows = min(args.rows_per_tile, sg.rows_total - sg.row0);
  sg.group = static_cast<int64_t>(sg.b) * args.kv_heads + sg.g;
  const int warps = blockDim.x >> 5;  // kDecodeMmaWarps
  const int split = blockIdx.x * warps + warp;
  const int S = args.sink_tokens;

  // Every global load of the prologue at once, before anything waits for one: the sequence's length, the split's page
  // entries (bounded by the table's row, not yet by the length), this warp's query rows with the rotation signs and K's
  // mean, and an L1 prefetch of the sink's rows for split 0. One memory latency for all of them; one after another
  // (length, then entries, then q, then k_mean; the sink at its first use) they took ~10 µs of a 16K-key step's 57, and
  // the sink ~12 µs more on split 0, the slowest split of its tile (H200 timeline probe, 2026-12-03f). Now q is ready
  // ~1 µs after the first page issue, which still comes ~5 µs after entry at 16K keys (the grid's startup burst).
  if (sg.rows <= 0) return;  // block-uniform: a balanced tiling can leave the last tile empty
  const int length = args.lengths[sg.b];
  const int first_page = split * args.pages_per_split;
  PageEntries entries;
  entries.fetch(args, sg.group * args.max_pages, first_page, min(args.max_pages, first_page + args.pages_per_split), lane);
  QueryRowLoads<D> query_loads[kRows / kDecodeMmaWarps];
#pragma unroll
  for (int j = 0; j < kRows / kDecodeMmaWarps; ++j) {
    const int r = warp + kDecodeMmaWarps * j;
    if (r < sg.rows) query_loads[j] = load_query_row<D>(args, sg.b, sg.g, sg.row0 + r, lane);
  }
  if (split == 0) {
    // Into this SM's L1, where run_sink's loads (ld.global.nc) find them: with an L2 prefetch its three rounds of loads
    // (K, then V two tokens at a time) each waited for L2 behind the grid's first page copies, up to 15 µs on split 0.
    for (int line = lane; line < S * D * 4 / 128; line += 32) {
      prefetch_l1(args.k.sink + sg.group * S * D + 32 * line);
      prefetch_l1(args.v.sink + sg.group * S * D + 32 * line);
    }
  }

  sg.length = length;
  sg.sink_n = min(sg.length, S);
  const int after_sink = max(0, sg.length - S);
  sg.pages = after_sink / P;
  sg.buffer_n = after_sink % P;
  sg.splits = max(1, (sg.pages + args.pages_per_split - 1) / args.pages_per_split);
  if (static_cast<int>(blockIdx.x) * warps >= sg.splits) return;  // block-uniform: a CTA without splits
  if (split == sg.splits - 1 && sg.buffer_n > 0) {
    // The buffer is the last split's tail, read after its pages by loads that each wait (load_buffer): from L2 then.
    const int64_t buffer = sg.group * P * D;
    for (int line = lane; line < (sg.buffer_n * D + 127) / 128; line += 32) {
      prefetch_l2(args.k.buffer_codes + buffer + 128 * line);
      prefetch_l2(args.v.buffer_codes + buffer + 128 * line);
    }
    for (int line = lane; line < (P * 4 + 127) / 128; line += 32) {
      prefetch_l2(args.k.buffer_scales + sg.group * P + 32 * line);
      prefetch_l2(args.v.buffer_scales + sg.group * P + 32 * line);
    }
  }

  // The warps' codes, then their meta and sink scores, then the block's query rows (decode_mma_smem_bytes).
  // A compile-time layout: the launcher picked kRing from the cache's room width (launch_ring), so kRing gives it back
  // (a layout read from the arguments held ten registers the page loop needs: 80 bytes of spills in the sm_80 image).
  constexpr DecodeMmaRing ring = decode_mma_ring(D, P, decode_mma_ring_room_bits(kRing));
  const int warp_rest = ring.meta_region_bytes() + decode_mma_sink_bytes(S);
  WarpSmem<kRing> ws;  // kRing = decode_mma_ring_pages(the cache's room width), the launcher's choice
  ws.ring = ring;
  ws.codes = smem_raw + warp * ring.codes_bytes();
  ws.meta = smem_raw + kDecodeMmaWarps * ring.codes_bytes() + warp * warp_rest;
  ws.sink = reinterpret_cast<float*>(ws.meta + ring.meta_region_bytes());
  unsigned char* at = smem_raw + kDecodeMmaWarps * (ring.codes_bytes() + warp_rest);
  auto* q_int8 = reinterpret_cast<int8_t*>(at);
  at += decode_align16(kRows * D);
  auto* q_rot = reinterpret_cast<float*>(at);
  at += decode_align16(kRows * D * 4);
  auto* q_scale = reinterpret_cast<float*>(at);
  at += decode_align16(kRows * 4);
  auto* q_shift = reinterpret_cast<float*>(at);
  at += decode_align16(kRows * 4);
  auto* last_key = reinterpret_cast<int*>(at);
  at += decode_align16(kRows * 4);
  auto* row_max = reinterpret_cast<float*>(at);  // the combine's row statistics
  at += decode_align16(kRows * 4);
  auto* row_sum = reinterpret_cast<float*>(at);
  at += decode_align16(kRows * 4);
  ws.barriers = smem_u32(at) + warp * 8 * kDecodeMmaBarriersPerWarp;  // sm_90a: 2 per ring slot (K item, V item)
  at += decode_align16(kDecodeMmaWarps * 8 * kDecodeMmaBarriersPerWarp);
  auto* finishes_tile = reinterpret_cast<int*>(at);

  const bool has_split = split < sg.splits;
#ifdef QATTN_SM90A_DEVICE_CODE
  if ((smem_u32(smem_raw) & 1023) != 0) __trap();  // see smem_raw: TMA's swizzle would not match `swizzled`
  if (lane == 0) {
    // The K item's barrier counts two arrivals (lane 0's with the transaction bytes, and the one cp.async makes when
    // the per-page scales of INT4/INT2 pages land), the V item's one.
    for (int i = 0; i < kRing; ++i) mbarrier_init(ws.k_barrier(i), 2), mbarrier_init(ws.v_barrier(i), 1);
    fence_mbarrier_init();
  }
  __syncwarp();
#endif

  // The split's first pages' items (the ring's kRing slots; cp.async: one group per item, empty groups past the split,
  // so run_split counts on 2·kRing groups), before the query's arithmetic: their memory latency hides behind it.
  if (has_split) {
    const int last_page = min(sg.pages, first_page + args.pages_per_split);
#pragma unroll
    for (int i = 0; i < kRing; ++i) {
      const int page = first_page + i;
      const PageRef ref = page < last_page ? entries.at(page) : PageRef{};
      issue_k_item<D, P>(ws, i, args, maps, ref, page < last_page, lane);
      issue_v_item<D, P>(ws, i, args, maps, ref, page < last_page, lane);
    }
  }
  QATTN_DECODE_PROBE(1);

  // The block's query rows: INT8 codes (rows past `rows` stay zero and see no key), fp32 rotated rows, s_q, δ.
#pragma unroll
  for (int j = 0; j < kRows / kDecodeMmaWarps; ++j) {
    const int r = warp + kDecodeMmaWarps * j;
    int8_t* codes = q_int8 + r * D;
    if (r < sg.rows) {
      const int global_row = sg.row0 + r;
      const QueryRow row = finish_query_row<D>(args, query_loads[j], sg.length, global_row % args.query_tokens, q_rot + r * D, lane,
                                               [&](int d, float code) { codes[d] = static_cast<int8_t>(code); });
      if (lane == 0) q_scale[r] = row.scale, q_shift[r] = row.shift, last_key[r] = row.last_key;
    } else {
      for (int d = lane; d < D; d += 32) codes[d] = 0;
      if (lane == 0) q_scale[r] = 0.f, q_shift[r] = 0.f, last_key[r] = -1;
    }
  }
  __syncthreads();
  QATTN_DECODE_PROBE(2);
  if (has_split) run_split<D, P, kPacked, kRing>(args, maps, sg, split, ws, entries, q_int8, q_rot, q_scale, q_shift, last_key, lane);

  // Fused combine (threadFenceReduction): every thread's state stores are made visible device-wide, the CTA's warps
  // meet, one thread counts the CTA in; the CTA that brings the count to the tile's CTAs with splits merges them and
  // resets the counter for the next launch (no other CTA of the tile touches it again in this one).
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const int ctas = (sg.splits + warps - 1) / warps;
    int* counter = args.combine_counters + sg.group * args.row_tiles + sg.tile;
    const bool last = atomicAdd(counter, 1) == ctas - 1;
    if (last) *counter = 0;
    *finishes_tile = last;
  }
  __syncthreads();
  QATTN_DECODE_PROBE(8);
  if (!*finishes_tile) return;
  // The merge stages split states in the warps' codes and meta (free now, contiguous from the start).
  const int merge_scratch = kDecodeMmaWarps * (ring.codes_bytes() + warp_rest);
  static_assert(decode_mma_merge_chunk((kDecodeMmaWarps * (ring.codes_bytes() + ring.meta_region_bytes()) / 2) & ~15, kRows, D) >= 1,
                "a half of the merge's staging holds a split's states");
  __threadfence();
#ifdef QATTN_DECODE_PROBE_WARM_MERGE
  combine_tile<D>(args, sg, q_rot, row_max, row_sum, smem_raw, merge_scratch, warp, warps, lane);
  __syncthreads();
  QATTN_DECODE_PROBE(12);
#endif
  combine_tile<D>(args, sg, q_rot, row_max, row_sum, smem_raw, merge_scratch, warp, warps, lane);
  QATTN_DECODE_PROBE(9);
}

template <int D, int P, bool kPacked, int kRing>
const char* launch_for(const DecodeArgs& args, const DecodeMmaMaps& maps, cudaStream_t stream, int smem) {
  // Kernel attributes only when they change: a driver call per step is host time every decode step pays. The dynamic
  // shared memory limit only grows (the largest layout seen so far serves every smaller one), and the carveout is
  // set once: all of L1 as shared memory, since 3 CTAs of ~75 KB per SM (the schedule's DECODE_MMA_CTAS_PER_SM) need
  // the largest carveout, which the driver does not pick by itself for a block that fits a smaller one.
  static std::atomic<int> smem_limit{0};
  if (smem > 48 * 1024 && smem > smem_limit.load(std::memory_order_acquire)) {
    const cudaError_t status = cudaFuncSetAttribute(decode_split_mma_kernel<D, P, kPacked, kRing>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (status != cudaSuccess) return cudaGetErrorString(status);
    smem_limit.store(smem, std::memory_order_release);
  }
  static std::atomic<bool> carveout_set{false};
  if (!carveout_set.load(std::memory_order_acquire)) {
    const cudaError_t carveout =
        cudaFuncSetAttribute(decode_split_mma_kernel<D, P, kPacked, kRing>, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
    if (carveout != cudaSuccess) return cudaGetErrorString(carveout);
    carveout_set.store(true, std::memory_order_release);
  }
  const int warps = kDecodeMmaWarps;
  const dim3 grid((args.max_splits + warps - 1) / warps, args.kv_heads * args.row_tiles, args.batch);
  decode_split_mma_kernel<D, P, kPacked, kRing><<<grid, warps * 32, smem, stream>>>(args, maps);
  const cudaError_t status = cudaGetLastError();
  return status == cudaSuccess ? nullptr : cudaGetErrorString(status);
}

// QATTN_DECODE_MMA_PACKED=0 runs tiles of ≤ 4 rows unpacked too (two MMAs per part): to measure what packing buys,
// and to test the unpacked kernel at GQA 4. Read once.
inline bool packing_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("QATTN_DECODE_MMA_PACKED");
    return value == nullptr || std::string(value) != "0";
  }();
  return enabled;
}

template <int D, int P, bool kPacked>
const char* launch_ring(const DecodeArgs& args, const DecodeMmaMaps& maps, cudaStream_t stream, int smem) {
  return decode_mma_ring_pages(decode_mma_room_bits(args)) == 1 ? launch_for<D, P, kPacked, 1>(args, maps, stream, smem)
                                                                 : launch_for<D, P, kPacked, 2>(args, maps, stream, smem);
}

template <int D, int P>
const char* launch_rows(const DecodeArgs& args, const DecodeMmaMaps& maps, cudaStream_t stream, int smem) {
  return decode_mma_packed(args) && packing_enabled() ? launch_ring<D, P, true>(args, maps, stream, smem) : launch_ring<D, P, false>(args, maps, stream, smem);
}

// The tensor maps of the pools whose pages have swizzled rows (rows_swizzled): the whole pool as a [slots·rows,
// row_bytes] byte matrix read in boxes of one page. Encoding is a host function of the pool's address and size, so
// the maps of the last pools seen are kept (a decode loop sees the same pools until the cache grows one).
const char* encode_pool_maps(const DecodeArgs& args, DecodeMmaMaps* maps) {
  struct Entry {
    const void* codes = nullptr;
    int slots = 0, rows = 0, row_bytes = 0;
    CUtensorMap map{};
  };
  thread_local Entry cache[2][kDecodePools];
  const DecodeTensorArgs* tensors[2] = {&args.k, &args.v};
  for (int t = 0; t < 2; ++t) {
    for (int p = 0; p < kDecodePools; ++p) {
      CUtensorMap& out = t == 0 ? maps->k[p] : maps->v[p];
      const DecodePoolArgs& pool = tensors[t]->pools[p];
      const int bits = p == 0 ? 8 : p == 1 ? 4 : 2;
      // K pages are token-major [P, D], V pages channel-major [D, P], codes packed along their rows.
      const int rows = t == 0 ? args.page_size : args.head_dim;
      const int row_bytes = (t == 0 ? args.head_dim : args.page_size) * bits / 8;
      if (pool.codes == nullptr || pool.slots <= 0 || !rows_swizzled(row_bytes)) continue;  // no page of it to read
      Entry& e = cache[t][p];
      if (e.codes != pool.codes || e.slots != pool.slots || e.rows != rows || e.row_bytes != row_bytes) {
        const cudaError_t status = encode_byte_tile_map(&e.map, pool.codes, row_bytes, static_cast<uint64_t>(pool.slots) * rows, row_bytes, rows);
        if (status != cudaSuccess) {
          e = Entry{};
          return "cuTensorMapEncodeTiled failed for a KV-cache pool (TMA needs a CUDA 12+ driver)";
        }
        e.codes = pool.codes, e.slots = pool.slots, e.rows = rows, e.row_bytes = row_bytes;
      }
      out = e.map;
    }
  }
  return nullptr;
}

}  // namespace

const char* decode_mma_launch(const DecodeArgs& args, cudaStream_t stream) {
  const int room_bits = decode_mma_room_bits(args);
  const int smem = decode_mma_smem_bytes(args.head_dim, args.page_size, args.sink_tokens, room_bits);
  if (!decode_mma_buffer_fits(args.head_dim, args.page_size, room_bits)) return "the INT8 buffer does not fit a warp's ring (decode_mma_buffer_fits)";
  // A 9.0 device runs the sm_90a image, whose ring is filled by TMA from these maps; other devices run the sm_80 one
  // (cp.async), which ignores them.
  DecodeMmaMaps maps{};
  cudaError_t status = cudaSuccess;
  if (current_compute_capability(&status) == 90) {
    if (const char* error = encode_pool_maps(args, &maps)) return error;
  }
  if (status != cudaSuccess) return cudaGetErrorString(status);
  // decode_mma_supported: head dim 64 or 128, pages of 16, 32 or 64 tokens.
  if (args.head_dim == 64) {
    return args.page_size == 16   ? launch_rows<64, 16>(args, maps, stream, smem)
           : args.page_size == 32 ? launch_rows<64, 32>(args, maps, stream, smem)
                                  : launch_rows<64, 64>(args, maps, stream, smem);
  }
  return args.page_size == 16   ? launch_rows<128, 16>(args, maps, stream, smem)
         : args.page_size == 32 ? launch_rows<128, 32>(args, maps, stream, smem)
                                : launch_rows<128, 64>(args, maps, stream, smem);
}

}  // namespace qattn
