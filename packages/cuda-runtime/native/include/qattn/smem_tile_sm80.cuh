// Shared-memory tiles of the sm80+ kernels: XOR-swizzled row layouts for ldmatrix, and the per-thread cp.async copy
// plan that fills them.
#pragma once

#include <cstdint>

#include "qattn/mma_sm80.cuh"

namespace qattn {

// A [ROWS, kRowBytes] tile in shared memory whose 16-byte chunks are XOR-swizzled so that the 8 rows one ldmatrix
// phase reads (same logical chunk, consecutive rows) land in 8 distinct bank groups. Rows are stored with a
// power-of-two stride (kStride >= kRowBytes, e.g. 96-byte rows use 128) so the XOR stays inside the row.
template <int kRowBytes>
struct SwizzledTile {
  static constexpr int kStride = kRowBytes <= 16 ? 16 : kRowBytes <= 32 ? 32 : kRowBytes <= 64 ? 64 : kRowBytes <= 128 ? 128 : 256;
  static constexpr int kChunks = kStride / 16;
  // Rows that share one 128-byte line, and how many chunk bits the row index may flip.
  static constexpr int kRowsPerLine = kStride >= 128 ? 1 : 128 / kStride;
  static constexpr int kXorMask = kChunks >= 8 ? 7 : kChunks - 1;

  __device__ __forceinline__ static int offset(int row, int chunk) {
    return row * kStride + ((chunk ^ ((row / kRowsPerLine) & kXorMask)) << 4);
  }

  // ldmatrix addressing without per-step address registers: with lane_offset = offset(row, c0), c0 in {0, 1}, the
  // chunk 2·step + c0 of the same row sits at lane_offset ^ (step << 5) (2·step and c0 occupy disjoint bits, the XOR
  // stays below the row bits), and rows + 16·i add i·16·kStride. Needs a 128-byte aligned tile base.
  __device__ __forceinline__ static uint32_t step_address(uint32_t lane_address, int step, int row_block16) {
    return (lane_address ^ (step << 5)) + row_block16 * 16 * kStride;
  }
};

// cp.async of one [kRows, kChunksPerRow·16 B] tile, planned once per thread: each thread owns one 16-byte chunk
// column and rows row0 + i·kRowsPerStep, so every copy of a tile is "plan base + compile-time offset" (no divisions or
// swizzle math per tile); kRowsPerStep is a multiple of 8, the period of every SwizzledTile pattern. Row widths that
// do not divide the thread count (hd96: 6 chunks) take the generic strided loop.
template <typename Tile, int kRows, int kChunksPerRow, int kThreads>
struct TileCopyPlan {
  static constexpr bool kPlanned = kThreads % kChunksPerRow == 0 && (kThreads / kChunksPerRow) % 8 == 0;
  static constexpr int kRowsPerStep = kPlanned ? kThreads / kChunksPerRow : 1;
  static constexpr int kSteps = (kRows + kRowsPerStep - 1) / kRowsPerStep;
  int tid;
  int row0;
  uint32_t smem_offset;  // of (row0, chunk)
  int64_t gmem_row_bytes;
  int64_t gmem_offset;   // bytes, of (row0, chunk)

  __device__ __forceinline__ TileCopyPlan(int thread, int64_t row_bytes) : tid(thread), gmem_row_bytes(row_bytes) {
    row0 = tid / kChunksPerRow;
    const int chunk = tid % kChunksPerRow;
    smem_offset = Tile::offset(row0, chunk);
    gmem_offset = row0 * gmem_row_bytes + chunk * 16;
  }

  __device__ __forceinline__ void copy(uint32_t tile_smem, const uint8_t* tile_gmem) const {
    if constexpr (kPlanned) {
#pragma unroll
      for (int step = 0; step < kSteps; ++step) {
        if (kRows % kRowsPerStep == 0 || row0 + step * kRowsPerStep < kRows) {
          cp_async_16(tile_smem + smem_offset + step * kRowsPerStep * Tile::kStride,
                      tile_gmem + gmem_offset + step * kRowsPerStep * gmem_row_bytes);
        }
      }
    } else {
      for (int i = tid; i < kRows * kChunksPerRow; i += kThreads) {
        const int row = i / kChunksPerRow, chunk = i % kChunksPerRow;
        cp_async_16(tile_smem + Tile::offset(row, chunk), tile_gmem + row * gmem_row_bytes + chunk * 16);
      }
    }
  }
};

}  // namespace qattn
