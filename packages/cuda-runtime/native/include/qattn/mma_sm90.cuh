// Warpgroup-level building blocks of the sm_90a kernels: wgmma (asynchronous warpgroup MMA) with its shared-memory
// matrix descriptors and fences, mbarriers, TMA (cp.async.bulk.tensor) and 1-D bulk copies, setmaxnreg, and the host
// side of TMA (tensor maps). References are to the PTX ISA (9.0) sections named in each comment.
//
// wgmma and setmaxnreg exist only for the arch-specific target sm_90a. The addons also compile every kernel for sm_80
// and compute_80 (other GPUs): the device half of this header is compiled only where __CUDA_ARCH_FEAT_SM90_ALL is
// defined (the sm_90a pass), and the kernels that use it guard their bodies the same way (QATTN_SM90A_DEVICE_CODE).
#pragma once

#include <cuda.h>  // CUtensorMap and cuTensorMapEncodeTiled's declaration (reached through the runtime, not linked)
#include <cuda_runtime.h>

#include <cstdint>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define QATTN_SM90A_DEVICE_CODE 1
#endif

namespace qattn {

// ---- Host: tensor maps (the TMA descriptors) ----

// cuTensorMapEncodeTiled from the driver through the runtime's entry-point query: the addons link cudart statically
// and never libcuda, so the driver function is looked up once (ABI of CUDA 12.0, where it appeared).
using TensorMapEncodeTiledFn = decltype(&cuTensorMapEncodeTiled);

inline TensorMapEncodeTiledFn tensor_map_encoder() {
  static const TensorMapEncodeTiledFn encode = [] {
    void* function = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    const cudaError_t status =
        cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &function, 12000, cudaEnableDefault, &found);
    if (status != cudaSuccess || found != cudaDriverEntryPointSuccess) {
      return static_cast<TensorMapEncodeTiledFn>(nullptr);
    }
    return reinterpret_cast<TensorMapEncodeTiledFn>(function);
  }();
  return encode;
}

// The tensor map of a row-major byte matrix [rows, row_bytes] read in boxes of [box_rows, box_row_bytes]. The box
// lands in shared memory row after row, box_row_bytes apart, with the 16-byte chunks of each row XOR-swizzled by the
// 32-, 64- or 128-byte pattern that equals box_row_bytes: for 64 and 128 the layout the wgmma descriptors of
// kmajor_desc below describe (the swizzle is a function of the shared-memory address bits, so TMA and its readers
// agree when the destination is aligned to the pattern's period, 8 rows of 128 bytes or 8 units of the pattern). Rows
// past `rows` read as zeros (and count towards the transaction bytes).
inline cudaError_t encode_byte_tile_map(CUtensorMap* map, const void* base, uint64_t row_bytes, uint64_t rows,
                                        uint32_t box_row_bytes, uint32_t box_rows) {
  const TensorMapEncodeTiledFn encode = tensor_map_encoder();
  if (encode == nullptr) return cudaErrorNotSupported;
  if (box_row_bytes != 32 && box_row_bytes != 64 && box_row_bytes != 128) return cudaErrorInvalidValue;
  const cuuint64_t global_dim[2] = {row_bytes, rows};
  const cuuint64_t global_stride[1] = {row_bytes};  // bytes between rows (dimension 0 is contiguous)
  const cuuint32_t box_dim[2] = {box_row_bytes, box_rows};
  const cuuint32_t element_stride[2] = {1, 1};
  const CUresult result =
      encode(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(base), global_dim, global_stride, box_dim,
             element_stride, CU_TENSOR_MAP_INTERLEAVE_NONE,
             box_row_bytes == 128  ? CU_TENSOR_MAP_SWIZZLE_128B
             : box_row_bytes == 64 ? CU_TENSOR_MAP_SWIZZLE_64B
                                   : CU_TENSOR_MAP_SWIZZLE_32B,
             CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return result == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

#ifdef QATTN_SM90A_DEVICE_CODE

// ---- wgmma: shared-memory matrix descriptors ----

// Descriptor of a K-major operand tile in shared memory whose rows (M or N index) are kRowBytes = 64 or 128 bytes of K,
// stored as TMA writes them with the matching swizzle (encode_byte_tile_map). PTX ISA "Asynchronous Warpgroup Level
// Matrix Shared Memory Layout: Matrix Descriptor" (#asynchronous-warpgroup-level-matrix-shared-memory-layout-matrix-
// descriptor), a 64-bit word:
//   bits  0-13  start address >> 4 (shared addresses are < 2^18, so 14 bits of 16-byte units hold them)
//   bits 16-29  leading dimension byte offset >> 4: the K distance between core matrices. Unused by the swizzled
//               K-major layouts (one K step of 32 bytes stays inside a swizzle row); 1 by convention.
//   bits 32-45  stride dimension byte offset >> 4: from one group of 8 rows to the next = 8 · kRowBytes
//   bits 49-51  base offset: 0, every tile base is aligned to the swizzle period (8 rows: 512 or 1024 bytes)
//   bits 62-63  swizzle mode: 1 = 128-byte, 2 = 64-byte (3 = 32-byte, 0 = none)
// One wgmma consumes K = 32 bytes; the next 32 bytes of every row are the descriptor plus 2 (32 >> 4) in the start
// address: the hardware adds row·kRowBytes + chunk·16 to the start and then applies the XOR of address bits [4, 4+s)
// with bits [7, 7+s), which is exactly where TMA put logical chunk 2 + c of each row, because the +32 never carries
// into bit 7 (the row phase) of a period-aligned base.
template <int kRowBytes>
__device__ __forceinline__ uint64_t kmajor_desc(uint32_t smem_addr) {
  static_assert(kRowBytes == 64 || kRowBytes == 128, "64- or 128-byte swizzled rows");
  constexpr uint64_t kSwizzleMode = kRowBytes == 128 ? 1 : 2;
  constexpr uint64_t kStrideUnits = 8 * kRowBytes / 16;
  return static_cast<uint64_t>((smem_addr & 0x3FFFFu) >> 4) | (uint64_t{1} << 16) | (kStrideUnits << 32) |
         (kSwizzleMode << 62);
}

// Descriptor of the operand kc·32 bytes further along K (see kmajor_desc).
__device__ __forceinline__ uint64_t desc_k_step(uint64_t desc, int kc) { return desc + static_cast<uint64_t>(2 * kc); }

// ---- wgmma: ordering ----
// PTX ISA "wgmma.fence", "wgmma.commit_group", "wgmma.wait_group". A warpgroup issues wgmma.fence before its first
// wgmma that reads registers written by ordinary instructions (accumulators, register A fragments), commits the issued
// wgmmas as one group, and may touch the accumulators again only after waiting for that group.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int kPendingGroups>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPendingGroups) : "memory");
}

// The compiler sees a wgmma as an ordinary instruction that reads and writes its register operands at issue. An empty
// volatile asm that "rewrites" each register pins the ordinary accesses on the right side of the fence/issue/wait
// sequence: initialization and fragment packing before wgmma_fence, reads of the results after wgmma_wait.
template <typename Word, int kCount>
__device__ __forceinline__ void pin_registers(Word (&registers)[kCount]) {
  static_assert(sizeof(Word) == 4, "32-bit registers");
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+r"(registers[i])::"memory");
}
template <int kCount>
__device__ __forceinline__ void pin_registers(float (&registers)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+f"(registers[i])::"memory");
}
template <typename Word, int kRows, int kCount>
__device__ __forceinline__ void pin_registers(Word (&registers)[kRows][kCount]) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) pin_registers(registers[r]);
}

// ---- wgmma: the instructions (PTX ISA "wgmma.mma_async"; integer forms: .s32 accumulators, scale-d only) ----
// Accumulator fragment (every shape here, per thread of the warpgroup; warp w = thread / 32, lane groups as mma.sync):
// d[4t + e] is row 16w + lane / 4 + 8·(e / 2), column 8t + 2·(lane % 4) + e % 2.
// Register A fragment of the k32 8-bit shapes: a[0] = row 16w + lane / 4, K bytes 4·(lane % 4) + [0, 4);
// a[1] = the same K bytes of row + 8; a[2], a[3] = K bytes 16 + 4·(lane % 4) + [0, 4) of the two rows. Per warp this is
// the A fragment of mma.sync.m16n8k32 over the warp's 16 rows, which is what lets the P codes of one n8 quartet of the
// S accumulator become one A fragment with byte packing only (attn_fwd_sm90.cuh).
// scale-d is the constant predicate "accumulate": every accumulator starts at the magic bias (mma_sm80.cuh).

// The accumulator operands every wgmma below names: the asm text "{%0, …, %N−1}" and the N register constraints
// (K = QATTN_WGMMA_S32 for INT32 accumulators, QATTN_WGMMA_F32 for fp32), written once.
#define QATTN_WGMMA_S32(x) "+r"(x)
#define QATTN_WGMMA_F32(x) "+f"(x)
#define QATTN_WGMMA_D8(K, i) \
  K(d[i]), K(d[i + 1]), K(d[i + 2]), K(d[i + 3]), K(d[i + 4]), K(d[i + 5]), K(d[i + 6]), K(d[i + 7])
#define QATTN_WGMMA_D32(K) QATTN_WGMMA_D8(K, 0), QATTN_WGMMA_D8(K, 8), QATTN_WGMMA_D8(K, 16), QATTN_WGMMA_D8(K, 24)
#define QATTN_WGMMA_D64(K) \
  QATTN_WGMMA_D32(K), QATTN_WGMMA_D8(K, 32), QATTN_WGMMA_D8(K, 40), QATTN_WGMMA_D8(K, 48), QATTN_WGMMA_D8(K, 56)
#define QATTN_WGMMA_REGS32 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define QATTN_WGMMA_REGS64 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
// The predicate "accumulate" (scale-d = 1, a constant) that opens every wgmma's asm block.
#define QATTN_WGMMA_ACCUMULATE "{\n.reg .pred accumulate;\nsetp.ne.b32 accumulate, 1, 0;\n"

// D[64x64] += A[64x32]·B[32x64], s8 x s8 -> s32, A and B from shared memory (descriptors).
__device__ __forceinline__ void wgmma_m64n64k32_s8s8_ss(int32_t (&d)[32], uint64_t a_desc, uint64_t b_desc) {
  asm volatile(QATTN_WGMMA_ACCUMULATE "wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8 " QATTN_WGMMA_REGS32
               ", %32, %33, accumulate;\n}\n"
               : QATTN_WGMMA_D32(QATTN_WGMMA_S32)
               : "l"(a_desc), "l"(b_desc));
}

// D[64x128] += A[64x32]·B[32x128], s8 x s8 -> s32, A and B from shared memory (descriptors): Q·Kᵀ of 128-key tiles.
__device__ __forceinline__ void wgmma_m64n128k32_s8s8_ss(int32_t (&d)[64], uint64_t a_desc, uint64_t b_desc) {
  asm volatile(QATTN_WGMMA_ACCUMULATE "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 " QATTN_WGMMA_REGS64
               ", %64, %65, accumulate;\n}\n"
               : QATTN_WGMMA_D64(QATTN_WGMMA_S32)
               : "l"(a_desc), "l"(b_desc));
}

// One k32 step of Q·Kᵀ into [64, kN] accumulators, kN = the tile's keys (64 or 128).
template <int kN>
__device__ __forceinline__ void wgmma_m64nk32_s8s8_ss(int32_t (&d)[kN / 2], uint64_t a_desc, uint64_t b_desc) {
  if constexpr (kN == 64) {
    wgmma_m64n64k32_s8s8_ss(d, a_desc, b_desc);
  } else {
    static_assert(kN == 128, "Q·Kᵀ wgmma shapes for 64- and 128-key tiles");
    wgmma_m64n128k32_s8s8_ss(d, a_desc, b_desc);
  }
}

// D[64x64] += A[64x32]·B[32x64], u8 x s8 -> s32, A from registers (4 per thread), B from shared memory.
__device__ __forceinline__ void wgmma_m64n64k32_u8s8_rs(int32_t (&d)[32], const uint32_t (&a)[4], uint64_t b_desc) {
  asm volatile(QATTN_WGMMA_ACCUMULATE "wgmma.mma_async.sync.aligned.m64n64k32.s32.u8.s8 " QATTN_WGMMA_REGS32
               ", {%32, %33, %34, %35}, %36, accumulate;\n}\n"
               : QATTN_WGMMA_D32(QATTN_WGMMA_S32)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));
}

// D[64x128] += A[64x32]·B[32x128], u8 x s8 -> s32, A from registers (4 per thread), B from shared memory.
__device__ __forceinline__ void wgmma_m64n128k32_u8s8_rs(int32_t (&d)[64], const uint32_t (&a)[4], uint64_t b_desc) {
  asm volatile(QATTN_WGMMA_ACCUMULATE "wgmma.mma_async.sync.aligned.m64n128k32.s32.u8.s8 " QATTN_WGMMA_REGS64
               ", {%64, %65, %66, %67}, %68, accumulate;\n}\n"
               : QATTN_WGMMA_D64(QATTN_WGMMA_S32)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));
}

// One k32 step of P·V into [64, kN] accumulators, kN = the head dim (64 or 128).
template <int kN>
__device__ __forceinline__ void wgmma_m64nk32_u8s8_rs(int32_t (&d)[kN / 2], const uint32_t (&a)[4], uint64_t b_desc) {
  if constexpr (kN == 64) {
    wgmma_m64n64k32_u8s8_rs(d, a, b_desc);
  } else {
    static_assert(kN == 128, "P·V wgmma shapes for head dims 64 and 128");
    wgmma_m64n128k32_u8s8_rs(d, a, b_desc);
  }
}

// ---- wgmma, fp16 P·V (the pv 'fp16' variant): f16 operands, fp32 accumulators that are O itself ----
// Register A fragment of the k16 16-bit shapes: a[0] = row 16w + lane / 4, K elements 2·(lane % 4) + {0, 1} (one
// half2); a[1] = the same of row + 8; a[2], a[3] = K elements 8 + 2·(lane % 4) + {0, 1} of the two rows — per warp the
// A fragment of mma.sync.m16n8k16, so P's half2 pairs come straight from the S accumulator of n8 tiles 2kc, 2kc + 1.
// The trailing immediates: scale-a 1, scale-b 1, transpose-b 0 (B K-major, as V_t is stored). One k16 step is 32 bytes
// of every B row, the same descriptor step as the 8-bit k32 shapes (desc_k_step).

// D[64x64] += A[64x16]·B[16x64], f16 x f16 -> f32, A from registers (4 per thread), B from shared memory (K-major).
__device__ __forceinline__ void wgmma_m64n64k16_f16_rs(float (&d)[32], const uint32_t (&a)[4], uint64_t b_desc) {
  asm volatile(QATTN_WGMMA_ACCUMULATE "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " QATTN_WGMMA_REGS32
               ", {%32, %33, %34, %35}, %36, accumulate, 1, 1, 0;\n}\n"
               : QATTN_WGMMA_D32(QATTN_WGMMA_F32)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));
}

// D[64x128] += A[64x16]·B[16x128], f16 x f16 -> f32, A from registers (4 per thread), B from shared memory (K-major).
__device__ __forceinline__ void wgmma_m64n128k16_f16_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t b_desc) {
  asm volatile(QATTN_WGMMA_ACCUMULATE "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " QATTN_WGMMA_REGS64
               ", {%64, %65, %66, %67}, %68, accumulate, 1, 1, 0;\n}\n"
               : QATTN_WGMMA_D64(QATTN_WGMMA_F32)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc));
}

// One k16 step of fp16 P·V into O [64, kN] fp32, kN = the head dim (64 or 128).
template <int kN>
__device__ __forceinline__ void wgmma_m64nk16_f16_rs(float (&d)[kN / 2], const uint32_t (&a)[4], uint64_t b_desc) {
  if constexpr (kN == 64) {
    wgmma_m64n64k16_f16_rs(d, a, b_desc);
  } else {
    static_assert(kN == 128, "P·V wgmma shapes for head dims 64 and 128");
    wgmma_m64n128k16_f16_rs(d, a, b_desc);
  }
}

// ---- mbarriers (PTX ISA "Parallel Synchronization and Communication Instructions: mbarrier") ----

__device__ __forceinline__ void mbarrier_init(uint32_t barrier, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(barrier), "r"(arrivals) : "memory");
}

// Makes initialized mbarriers visible to the async proxy (TMA completes transactions on them); a CTA barrier follows.
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// One arrival that also announces `bytes` of transactions (the TMA copies issued next) for the current phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint32_t barrier, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(barrier), "r"(bytes) : "memory");
}

// One arrival (release: this thread's earlier shared-memory reads are ordered before the phase completes).
__device__ __forceinline__ void mbarrier_arrive(uint32_t barrier) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(barrier) : "memory");
}

// Waits until the phase of parity `parity` has completed (acquire: the data it guarded is visible afterwards). A fresh
// barrier is in phase 0, so waiting for parity 1 returns at once: the "previous phase" of a new barrier counts as done.
__device__ __forceinline__ void mbarrier_wait(uint32_t barrier, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred complete;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 complete, [%1], %2;\n"
        "selp.u32 %0, 1, 0, complete;\n}\n"
        : "=r"(done)
        : "r"(barrier), "r"(parity)
        : "memory");
  } while (done == 0);
}

// One more arrival on `barrier` once every cp.async this thread issued before has landed (PTX ISA
// "cp.async.mbarrier.arrive"; .noinc: the arrival is one of the counted ones, so the barrier's init count includes it).
__device__ __forceinline__ void cp_async_mbarrier_arrive_noinc(uint32_t barrier) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(barrier) : "memory");
}

// Orders this thread's earlier generic-proxy accesses of shared memory before later async-proxy (TMA, bulk copy)
// accesses of it (PTX ISA "fence.proxy.async"): a slot the warp has read may then be refilled by TMA.
__device__ __forceinline__ void fence_proxy_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// ---- TMA and bulk copies (PTX ISA "cp.async.bulk.tensor", "cp.async.bulk"), completing on an mbarrier ----

// Box (x, y) of a 2-D tensor map (x: byte column, y: row) into shared memory at dst. The map is a __grid_constant__
// kernel parameter: its generic address is what the instruction takes.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap* map, int x, int y, uint32_t barrier) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(barrier)
      : "memory");
}

// `bytes` contiguous bytes (a multiple of 16; both addresses 16-byte aligned) into shared memory at dst.
__device__ __forceinline__ void bulk_load(uint32_t dst, const void* src, uint32_t bytes, uint32_t barrier) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(barrier)
               : "memory");
}
// An L2 cache policy for data a kernel reads once (a decode step's K/V pages, tens to hundreds of MB per step): its
// lines go first, so the stream does not evict what the step reads again or last (its code, page table, query rows,
// partial states). For the *_hinted copies below.
__device__ __forceinline__ uint64_t l2_evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
__device__ __forceinline__ void tma_load_2d_hinted(uint32_t dst, const CUtensorMap* map, int x, int y, uint32_t barrier, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.L2::cache_hint"
      " [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(barrier), "l"(policy)
      : "memory");
}
__device__ __forceinline__ void bulk_load_hinted(uint32_t dst, const void* src, uint32_t bytes, uint32_t barrier, uint64_t policy) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(barrier), "l"(policy)
               : "memory");
}

// ---- Warpgroup roles ----

// PTX ISA "setmaxnreg": the whole warpgroup gives registers back to the CTA's pool (dec) or takes them (inc). Takes
// effect only when the kernel has a register cap at entry (__launch_bounds__(threads, 1)).
template <int kRegisters>
__device__ __forceinline__ void warpgroup_registers_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
template <int kRegisters>
__device__ __forceinline__ void warpgroup_registers_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

// Named barriers (PTX ISA "bar.sync", "bar.arrive", "bar.red"): ids 1..15 (0 is __syncthreads'), counts in whole warps
// (a warp counts as 32 arrivals, so every thread of a calling warp executes the call; all callers here are whole
// warpgroups). The id is a register operand, uniform over the callers: each consumer warpgroup computes its own from
// its index, so the two take one straight-line path — a call on a branch per consumer would be a divergent path to
// ptxas, which then serializes the wgmmas in flight across it (C7518). They order instruction issue only; the
// "memory" clobber keeps the compiler from moving other asm across them.

// OR of `predicate` over the 128 threads of a warpgroup.
__device__ __forceinline__ bool warpgroup_any(bool predicate, int barrier_id) {
  uint32_t any = 0;
  asm volatile(
      "{\n.reg .pred vote, result;\n"
      "setp.ne.u32 vote, %1, 0;\n"
      "bar.red.or.pred result, %2, 128, vote;\n"
      "selp.u32 %0, 1, 0, result;\n}\n"
      : "=r"(any)
      : "r"(static_cast<uint32_t>(predicate)), "r"(barrier_id)
      : "memory");
  return any != 0;
}

// sync waits until kThreads arrivals (its own included) complete the barrier's current generation; arrive adds this
// thread's arrival without waiting.
template <int kThreads>
__device__ __forceinline__ void named_barrier_sync(int barrier_id) {
  static_assert(kThreads % 32 == 0, "whole warps");
  asm volatile("bar.sync %0, %1;\n" ::"r"(barrier_id), "n"(kThreads) : "memory");
}
template <int kThreads>
__device__ __forceinline__ void named_barrier_arrive(int barrier_id) {
  static_assert(kThreads % 32 == 0, "whole warps");
  asm volatile("bar.arrive %0, %1;\n" ::"r"(barrier_id), "n"(kThreads) : "memory");
}

#endif  // QATTN_SM90A_DEVICE_CODE

}  // namespace qattn
