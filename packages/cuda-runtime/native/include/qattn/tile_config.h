// Tile shapes and pipeline depth of the INT8 attention forward, as a pure function of (head_dim, arch[, variant]).
// The kernel consumes a TileConfig; nothing else in the kernel chooses sizes. Variant 0 is the choice; 1-5 are the
// measured alternatives, compiled only by QATTN_TILE_EXPERIMENTS builds (selected by QATTN_TILE_VARIANT).
#pragma once

namespace qattn {

// P·V precision: INT8 P codes x INT8 V (the papers' full method) or fp16 P x fp16 V (INT-FA's "half" variant).
enum class PvPrecision { kInt8, kFp16 };

struct TileConfig {
  int block_m;            // queries per CTA; one warp owns 16 query rows (mma m16)
  int block_n;            // keys per pipeline stage
  int num_warps;          // block_m / 16
  int stages;             // cp.async stages of the K/V ring
  int min_blocks_per_sm;  // __launch_bounds__ occupancy target: caps registers at 64K / (threads · this)
};

// Keys per CTA of the V quantization kernel; V scales and P row maxima use key blocks of 32 or 64 keys (the
// oracle's blockN), so v_scale is sized for the smallest block.
constexpr int kVQuantKeys = 64;
constexpr int kMinKeyBlock = 32;
// Padding of the quantized Q rows (multiple of every block_m) and K/V rows (multiple of every block_n).
constexpr int kSeqQPad = 128;
constexpr int kSeqKVPad = 64;

// sm80 path (mma.sync m16n8k32 s8; on sm90 too, for the calls the sm90a kernel below does not serve). One warp keeps
// O (16 x head_dim fp32) and S (16 x block_n) in registers, so rows per warp stay at 16 and the occupancy target
// decides how many registers the compiler may use. The kernel is issue-bound (Nsight Compute: ~55% issue-slot use,
// FMA the busiest pipe), so more resident warps beat more registers per warp. Alternatives measured on an H200 (B=4
// H=32 N=16K, non-causal, kernel-only TOPS, one run each; "int8/32" is pv 'int8' with 32-key P/V blocks, "int8/64"
// with 64; INT-FA variant):
//   variant                                  hd128 int8/32  int8/64  pv fp16   hd64 int8/32
//   1  128x64,  8 warps, 1 CTA/SM (255 reg)       244         298       294           181
//   2   64x64,  4 warps, 2 CTAs/SM (<=255)        274         313       341           230
//   3   64x64,  4 warps, 3 CTAs/SM (<=168)        287         349       370           230
//   4   64x64,  4 warps, 4 CTAs/SM (<=128)        302         376       368           249   <- chosen for hd <= 128
// Re-measured with the default 64-key blocks after the softmax rows were interleaved and the loop went to one barrier
// per tile (same kind of GPU, same shapes; flash-int8 bench/results/h200-tile-sweep-2026-11-21-blockn64.log; spills
// from -Xptxas -v, sm_90a):
//   variant                                  hd128 int8/64  hd64 int8/64
//   3   64x64,  4 warps, 3 CTAs/SM (<=168)        366          297
//   4   64x64,  4 warps, 4 CTAs/SM (<=128)        392          325   <- chosen (hd128 spills 52 B, hd64 none)
//   5   64x64,  4 warps, 5 CTAs/SM (<=96)         258          319   (spills: hd128 440 B, hd64 16 B)
// hd256 keeps 1 CTA/SM: its O alone is 128 registers per thread. Every attention variant (attention_variant.cuh)
// takes the same table. The SAS variant spills more under the 128-register cap (sm_90a, blockN 64: hd128 80 B of
// spill stores against INT-FA's 52 B, hd64 none; turbo-attn's README) and has not been timed against 3 CTAs/SM yet.
constexpr TileConfig tile_config_sm80(int head_dim, int variant = 0) {
  return variant == 1   ? TileConfig{128, 64, 8, 2, 1}
         : variant == 2 ? TileConfig{64, 64, 4, 2, 2}
         : variant == 3 ? TileConfig{64, 64, 4, 2, 3}
         : variant == 4 ? TileConfig{64, 64, 4, 2, 4}
         : variant == 5 ? TileConfig{64, 64, 4, 2, 5}
         : head_dim <= 128 ? TileConfig{64, 64, 4, 2, 4}
                           : TileConfig{64, 64, 4, 2, 1};
}

// sm90a path (attn_fwd_sm90.cuh: wgmma, TMA, warp specialization), INT8 or fp16 P·V at head dims 64 and 128; every other call
// on a 9.0 device runs the sm80 kernel (arch_dispatch.cuh).
//
// The consumer schedule: the order in which a consumer warpgroup issues its wgmmas and runs its softmax. All three do
// the same arithmetic in the same order on every register (the outputs are bit-identical); they differ only in what
// overlaps what.
//   kSerial    per tile: Q·Kᵀ, wait, softmax, P·V, wait. The tensor cores idle while a warpgroup runs its softmax,
//              except for what the warp schedulers interleave from the other consumer.
//   kOverlap   FlashAttention-3's intra-warpgroup overlap: Q·Kᵀ of tile j and P·V of tile j − 1 are issued together,
//              then the softmax of tile j runs while P·V(j − 1) is on the tensor cores.
//   kPingPong  kOverlap plus FlashAttention-3's inter-warpgroup ping-pong: two named barriers hand the right to issue
//              wgmmas from one consumer to the other, so one consumer's softmax runs while the other's GEMMs do.
enum class Sm90Schedule { kSerial, kOverlap, kPingPong };

// The schedule `auto` picks (QATTN_SM90_SCHEDULE overrides it, arch_path.h). Every schedule is compiled, so one build
// benches them side by side. H200, B4 H32 hd128, kernel TOPS of flash-int8 / turbo-attn, one run
// (apps/bench/reports/h200-issue10-schedules):
//                 N4K          N16K         N4K causal   N16K causal
//   kSerial       349 / 352    371 / 385    326 / 320    365 / 375
//   kOverlap      382 / 383    411 / 421    356 / 350    403 / 410
//   kPingPong     361 / 376    386 / 412    334 / 342    380 / 402
// kOverlap wins everywhere (+8–11% over kSerial). Ping-pong adds no speed on top of it here: the softmax and the
// per-tile O update from the INT32 P·V accumulators (CUDA cores, not the tensor cores) bound both consumers at once,
// so handing the tensor cores back and forth only adds barrier waits. cuDNN bf16 runs 620–690 TOPS on those shapes.
constexpr Sm90Schedule kSm90DefaultSchedule = Sm90Schedule::kOverlap;

struct TileConfigSm90 {
  int block_m;              // queries per CTA: 64 per consumer warpgroup (the M of wgmma)
  int block_n;              // keys per pipeline stage: the N of Q·Kᵀ's wgmma and the K of P·V's
  int consumer_warpgroups;  // warpgroups that compute; one more warpgroup issues the TMA loads
  int stages;               // depth of the K/V ring in shared memory
  int producer_registers;   // setmaxnreg of the producer warpgroup (it needs few: addresses and a loop)
  int consumer_registers;   // setmaxnreg of each consumer warpgroup (O, S, the P·V accumulator and the P codes)
  Sm90Schedule schedule;    // the consumers' order of wgmma and softmax (above)
  // Lazy rescaling (fp16 P·V only; FlashAttention-4's trick): the running max used for P moves only when a tile's max
  // exceeds it by more than this many base-2 units, so O·α runs on a few tiles instead of whenever a row's max creeps
  // up. P is then ≤ 2^threshold instead of ≤ 1: fp16 P keeps its relative precision (10 bits) up to 65504, and O and
  // l are fp32. 0 = move the max on every increase (INT8 P codes need P ≤ 1 of their block's max).
  int rescale_threshold;
};

// Head dims with an sm90a kernel.
constexpr bool tile_config_sm90_serves(int head_dim) { return head_dim == 64 || head_dim == 128; }

// The head dims where `auto` runs the sm90a kernel (QATTN_CUDA_ARCH_PATH=sm90 forces it onto every head dim it serves):
// where it beat the sm80 kernel on an H200. hd128: 1.05–1.07× (the schedule table below). hd64: 0.86× — B4 H32 N16K,
// kernel only, 276 TOPS on the sm90a overlap schedule (apps/bench/reports/h200-issue10-schedules/h200-paper-cuda-16k)
// against 322 on the sm80 kernel (apps/bench/reports/h200-paper, an earlier run; cuDNN bf16 467 TOPS in both): a 64-
// channel tile is half the tensor work per barrier, softmax and O update, so the per-tile costs weigh twice as much.
// fp16 P·V (pv 'fp16') runs the sm90a kernel at both head dims: with no INT32 partial to dequantize per tile it wins
// at hd64 too — B4 H32 N4K / N16K kernel TOPS 345 / 371 on sm90a (block_n 128) against 318 / 326 on sm80, one device
// session (apps/bench/reports/h200-issue10-fp16: h200-hd64-sm90, h200-hd64-sm80; INT8 P·V there: 258 / 276 vs 305 / 323).
constexpr bool tile_config_sm90_preferred(int head_dim, bool pv_int8) { return head_dim == 128 || !pv_int8; }

// FlashAttention-3's shape: two consumer warpgroups of 64 query rows share every K/V tile a producer warpgroup brings
// in with TMA; 1 CTA/SM, 384 threads, registers split by setmaxnreg (128·producer + 256·consumer ≤ 65536).
//   block_n 64: the oracles' default blockN and the sm80 kernel's tile, so the running max steps at the same keys and
//     the outputs match the sm80 path's up to fp32 rounding (SAS's fp16 polynomial makes P depend on the running
//     max, not only on the score). It also divides kSeqKVPad, so no tile reads past the padded keys. 128 or more
//     (FlashAttention-3 takes 128–176 at hd128) halves the per-tile overheads (barriers, O rescale, the wgmma issue
//     round trips) but changes where the running max steps, i.e. the rounding of every P against the sm80 path and
//     the oracle; under the overlapped schedules it also needs 64 more accumulator registers at hd128 (S of 128 keys
//     next to P·V's in-flight accumulator), past the 240 setmaxnreg allows with O held in registers. Not taken.
//   stages 4: a 64-key tile is 8–16 KB of K and V; four in flight cover the TMA latency (~1 µs) at the issue rate of
//     the softmax (~0.5 µs per tile). Shared memory: 16 KB of Q + 4 · 19 KB at hd128 (8 KB + 4 · 10 KB at hd64). The
//     overlapped schedules hold a stage one tile longer (until P·V of the tile completes, during the next tile's
//     softmax), so they need ≥ 2 stages to make progress; 4 leaves the producer 2 tiles ahead.
//   registers: kSerial 40/232 (128·40 + 256·232 = 64512). kOverlap and kPingPong hold S of tile j, P·V's INT32
//     accumulators of tile j − 1 (in flight) and the P codes of both next to O: 24/240 (FlashAttention-3's split,
//     128·24 + 256·240 = 64512); the producer thread's loop fits in 24. The in-flight accumulators are
//     (block_n / key_block)·head_dim / 2 registers per thread: 64 at hd128 with key blocks of 64 and at hd64 with 32,
//     but 128 at hd128 with key blocks of 32 — past what 240 leaves next to O (64), S (32) and the softmax, so that
//     shape runs kSerial whatever is asked (the kernel of the schedule that runs is the only one compiled).
// Both head dims take this shape, and causal masking too (a masked tile costs the same as a full one here).
// Alternatives still to measure on an H200: 2–3 stages, a smaller causal tile, block_n 128 (the schedules: above).
// fp16 P·V (pv 'fp16'): its P·V accumulates into O itself, so the overlapped schedules hold no in-flight accumulator
// and block_n 128 fits: S of 128 keys (64 registers) next to O and the P pairs, V_t in two 128-byte-swizzled subtiles
// of 64 keys, 4 stages of 49 KB at hd128 (25 KB at hd64). There are no P/V key blocks to keep aligned with the oracle
// (P is not quantized), and 128 halves the per-tile costs per key (barriers, row-max shuffles, O·α, wgmma issue).
// H200, B4 H32 hd128, kernel TOPS, overlap, one run (apps/bench/reports/h200-issue10-fp16):
//                  N4K    N16K   N4K causal   N16K causal
//   block_n 128    532    559    478          547          <- chosen
//   block_n 64     491    528    449          514          (variant 1: QATTN_TILE_VARIANT=1, overlap only)
//   INT8 P·V, 64   383    414    356          406          (cuDNN bf16 in the same run: 580 / 609 / 507 / 566)
// Variant 2 (QATTN_TILE_VARIANT=2, overlap only): block_n 128 with eager rescaling (rescale_threshold 0), which the
// table above measured; variant 0 adds lazy rescaling: Nsight Compute, B1 H32 N16K, 10.12 vs 10.36 ms and 2.41 vs
// 2.47 G instructions (h200-issue10-fp16/run-96499dc). The pingpong schedule with it: 545 / 565 at N4K / N16K, against
// 531 / 562 for variant 2 on overlap in the same command — no clear gain, so overlap stays the default.
constexpr TileConfigSm90 tile_config_sm90(int head_dim, int key_block, bool pv_fp16, Sm90Schedule schedule,
                                          int variant = 0) {
  const int block_n = pv_fp16 && variant != 1 ? 128 : 64;
  const int rescale_threshold = pv_fp16 && variant == 0 ? 8 : 0;
  const bool overlap_fits = pv_fp16 || (block_n / key_block) * head_dim / 2 <= 64;
  const Sm90Schedule runs = overlap_fits ? schedule : Sm90Schedule::kSerial;
  return runs == Sm90Schedule::kSerial ? TileConfigSm90{128, block_n, 2, 4, 40, 232, runs, rescale_threshold}
                                       : TileConfigSm90{128, block_n, 2, 4, 24, 240, runs, rescale_threshold};
}

}  // namespace qattn
