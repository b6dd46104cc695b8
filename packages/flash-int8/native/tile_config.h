// Tile shapes and pipeline depth of the INT8 attention forward, as a pure function of (head_dim, arch).
// The kernel consumes a TileConfig; nothing else in the kernel chooses sizes.
#pragma once

namespace qattn {

struct TileConfig {
  int block_m;    // queries per CTA; one warp owns 16 query rows (mma m16)
  int block_n;    // keys per pipeline stage; also the key block of V's per-(block, channel) scales
  int num_warps;  // block_m / 16
  int stages;     // cp.async stages of the K/V ring
};

// The key block of the INT8 V scales (vGranularity 'blockChannel'): fixed to the kernel's block_n.
constexpr int kVScaleBlock = 64;
// Padding of the quantized Q rows (multiple of every block_m) and K/V rows (multiple of every block_n).
constexpr int kSeqQPad = 128;
constexpr int kSeqKVPad = 64;

// sm80 path (mma.sync m16n8k32 s8, also what runs on sm90 today).
// Alternatives, H200, B=4 H=32 N=16K non-causal (see README "Measured"):
//   hd128: 128x64, 8 warps, 2 stages (chosen); 64x64, 4 warps: more CTAs/SM but Q·Kᵀ re-reads K from smem per 16 rows
//          either way, so it only adds K/V traffic from L2.
//   hd64:  128x64, 8 warps, 2 stages (chosen).
// Registers bound the shape: one warp keeps O (16 x head_dim fp32), S (16 x block_n) and its Q fragment in
// registers, so 32-row warps (4 warps for 128 rows) need ~240 registers at hd128 and spill.
constexpr TileConfig tile_config_sm80(int head_dim) {
  return head_dim <= 128 ? TileConfig{128, 64, 8, 2} : TileConfig{64, 64, 4, 2};
}

}  // namespace qattn
