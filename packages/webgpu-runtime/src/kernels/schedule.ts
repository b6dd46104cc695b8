import { QattnError } from '@qattn/quant-core';

/**
 * How the attention kernels store one "word" of a row: what a thread loads from workgroup memory per dot product.
 * - `int8`: 4 int8 codes in a u32 (`dot4I8Packed`), for Q·Kᵀ and P·V.
 * - `int8-pv-fp16`: Q·Kᵀ on int8 words; P and V as pairs of f16 in a u32 (`pv: 'fp16'`).
 * - `f32` / `f16`: the float baselines, a `vec4` of the element type per word.
 */
export type AttentionArithmetic = 'int8' | 'int8-pv-fp16' | 'f32' | 'f16';

/** The device properties a schedule depends on: a subset of `GPUSupportedLimits`, and whether it is a CPU adapter. */
export interface ScheduleLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  /** lavapipe / SwiftShader: see {@link AttentionSchedule.unrollWords}. */
  software?: boolean;
}

/**
 * One attention schedule: a workgroup computes `blockM` query rows of one (batch, head), walking the keys in tiles of
 * `blockN`. Its threads form `blockM / rowsPerThread` row groups of `threadsPerRow` threads: in Q·Kᵀ a thread owns
 * `rowsPerThread` rows × every `threadsPerRow`-th group of 4 keys; in P·V the same rows × `channelsPerThread`
 * channels (c, c + threadsPerRow, …), so one thread's accumulators stay in registers.
 */
export interface AttentionSchedule {
  arithmetic: AttentionArithmetic;
  headDim: number;
  blockM: number;
  blockN: number;
  rowsPerThread: number;
  threadsPerRow: number;
  channelsPerThread: number;
  /** Groups of 4 keys per thread in Q·Kᵀ (the last may be partly idle when blockN/4 is not a multiple of threadsPerRow). */
  keyGroupsPerThread: number;
  /**
   * Channels a thread computes together in P·V (int8 and `pv:'fp16'`): each P word loaded from workgroup memory feeds
   * `pvChannelTile` dot products per row instead of one, at `rowsPerThread × pvChannelTile` accumulators.
   */
  pvChannelTile: number;
  /** Causal: workgroup x = 0 takes the last query tile (most keys), so the longest tiles start first. */
  heavyTilesFirst: boolean;
  workgroupSize: number;
  /**
   * Whether the loops over the words of a row (Q·Kᵀ) and of a P tile (P·V) have constant trip counts, letting the
   * shader compiler unroll them. On GPUs that is the fast code; software adapters compile WGSL with LLVM on the host,
   * where the unrolled int8 kernel at headDim 128 took 33 s to build on lavapipe, so they get loops bounded by a
   * uniform instead (the register tiles inside stay unrolled either way).
   */
  unrollWords: boolean;
  /** Workgroup memory the kernel declares for this schedule, in bytes. */
  workgroupBytes: number;
  /** Pipeline cache key: everything that changes the generated WGSL. */
  key: string;
}

/** Schedule fields a caller may pin instead of the rule's choice (benchmarks of alternatives, tests of code paths). */
export interface ScheduleOverrides {
  rowsPerThread?: 1 | 2 | 4;
  workgroupSize?: 64 | 128 | 256 | 512;
  pvChannelTile?: 1 | 2 | 4 | 8 | 16;
  heavyTilesFirst?: boolean;
}

/** The problem a schedule is for: the rule may depend on how many query tiles there are and on the mask. */
export interface ScheduleProblem {
  seqQ: number;
  causal: boolean;
}

/** Head dims the kernels support: multiples of 16 in [32, 256] (P·V splits a row over 8 or 16 threads). */
export function isSupportedHeadDim(headDim: number): boolean {
  return Number.isInteger(headDim) && headDim >= 32 && headDim <= 256 && headDim % 16 === 0;
}

/** Bytes of one 4-element word in workgroup memory. */
function qkWordBytes(arithmetic: AttentionArithmetic): number {
  return arithmetic === 'f32' ? 16 : arithmetic === 'f16' ? 8 : 4;
}

/** Key tile sizes to try, largest first; a caller's preferred size (the CPU oracle's blockN) goes first when valid. */
function blockNCandidates(preferred: number | undefined): number[] {
  const sizes = [64, 32, 16];
  return preferred !== undefined && sizes.includes(preferred) ? [preferred, ...sizes.filter((n) => n !== preferred)] : sizes;
}

/** Workgroup memory of a candidate, mirroring the `var<workgroup>` declarations of the kernels (rows padded by one word). */
export function workgroupBytesOf(arithmetic: AttentionArithmetic, headDim: number, blockM: number, blockN: number, threadsPerRow: number): number {
  const qkStride = headDim / 4 + 1;
  const wordBytes = qkWordBytes(arithmetic);
  const qTile = blockM * qkStride * wordBytes;
  const kTile = blockN * qkStride * wordBytes;
  const rowPartial = blockM * threadsPerRow * 4;
  if (arithmetic === 'f32' || arithmetic === 'f16') {
    const vTile = blockN * qkStride * wordBytes; // row-major V
    const pTile = blockM * (blockN + 1) * 4; // f32 P
    return qTile + kTile + vTile + pTile + rowPartial;
  }
  // V transposed and P packed along keys: 4 int8 or 2 f16 per u32.
  const pvStride = blockN / (arithmetic === 'int8' ? 4 : 2) + 1;
  const kScale = blockN * 4;
  const tileLive = 4; // the all-zero tile flag
  return qTile + kTile + kScale + headDim * pvStride * 4 + blockM * pvStride * 4 + rowPartial + tileLive;
}

/**
 * The int8 kernels' preferences for a problem on a GPU (software adapters pin 1 row per thread), measured on an H200
 * through Dawn/Vulkan at headDim 128, N ∈ {1024, 4096}, causal and not (README, WebGPU section; every candidate in one
 * run). Two rows per thread and 4 channels per P·V step everywhere; the workgroup size sets the query tile:
 * - 64-key P/V blocks: 512 threads (128 queries per workgroup: K/V tiles in workgroup memory reused by twice the
 *   queries) except causal with seqQ ≤ 2048, where 256 threads (64 queries) win: with half as many query tiles per head
 *   the diagonal tiles dominate and too few workgroups fill the 132 SMs (1024 causal: 9.9 vs 7.4 TOPS).
 * - 32-key blocks (`blockN` ≤ 32): 256 threads and 16 channels per step, fastest at all four shapes.
 * Without a problem, the non-causal choice.
 */
export function int8Preferences(problem: ScheduleProblem | undefined, blockN?: number): ScheduleOverrides {
  if (blockN !== undefined && blockN <= 32) return { rowsPerThread: 2, workgroupSize: 256, pvChannelTile: 16, heavyTilesFirst: false };
  const shortCausal = problem !== undefined && problem.causal && problem.seqQ <= 2048;
  return { rowsPerThread: 2, workgroupSize: shortCausal ? 256 : 512, pvChannelTile: 4, heavyTilesFirst: false };
}

/**
 * Picks the tiles of the attention kernel for a head dim on a device: a pure function of its arguments.
 *
 * Preference order (first that fits the device's workgroup memory and invocation limits wins): the workgroup size,
 * rows per thread and P·V channel tile of {@link int8Preferences} for int8 (128 threads, 4 rows for the float
 * baselines), `overrides` taking precedence; `threadsPerRow` 8 up to headDim 128 and 16 above, so a thread accumulates
 * at most 16 channels per row; fewer rows per thread (4, 2, 1); `blockN` 64 then 32 then 16 keys (`preferredBlockN`
 * first, so the kernel's P tiles match the CPU oracle's blockN); last, half the workgroup. For int8 at headDim 128 with
 * blockN 64 this gives 128×64 tiles in 46.8 KiB (512 threads) on NVIDIA's 48 KiB; the f32 baseline, whose words are
 * 4× larger, lands on 32×16 tiles — the memory advantage INT8 buys.
 *
 * Throws `ERR_QATTN_UNSUPPORTED` for head dims outside {@link isSupportedHeadDim} or devices too small for any tile.
 */
export function chooseAttentionSchedule(
  arithmetic: AttentionArithmetic,
  headDim: number,
  limits: ScheduleLimits,
  preferredBlockN?: number,
  overrides: ScheduleOverrides = {},
  problem?: ScheduleProblem,
): AttentionSchedule {
  if (!isSupportedHeadDim(headDim)) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `webgpu attention: headDim ${headDim} is not supported (multiples of 16 from 32 to 256)`, {
      headDim,
    });
  }
  const threadsPerRow = headDim <= 128 ? 8 : 16;
  const float = arithmetic === 'f32' || arithmetic === 'f16';
  // The float baselines give each thread whole vec4 channel words.
  if (float && (headDim / 4) % threadsPerRow !== 0) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `webgpu attention: the ${arithmetic} baseline needs headDim a multiple of ${4 * threadsPerRow}`, {
      headDim,
    });
  }
  const preferred = float ? {} : int8Preferences(problem, preferredBlockN);
  const workgroupSize = Math.min(overrides.workgroupSize ?? preferred.workgroupSize ?? 128, limits.maxComputeInvocationsPerWorkgroup);
  // Halving the workgroup is the last resort, after fewer rows and smaller key tiles (devices with little memory).
  const workgroupSizes = [workgroupSize, workgroupSize / 2, workgroupSize / 4].filter((size) => size >= threadsPerRow && Number.isInteger(size));
  const wantRows = overrides.rowsPerThread ?? (limits.software ? 1 : preferred.rowsPerThread);
  const rowCandidates = wantRows ? [wantRows, ...([4, 2, 1] as const).filter((r) => r < wantRows)] : [4, 2, 1];
  const channelsPerThread = headDim / threadsPerRow;
  const wantChannelTile = float ? 1 : (overrides.pvChannelTile ?? preferred.pvChannelTile ?? 1);
  // Largest tile ≤ the wanted one that divides the thread's channels (headDim 48: 6 channels → 2).
  const pvChannelTile = [16, 8, 4, 2, 1].find((t) => t <= wantChannelTile && channelsPerThread % t === 0) ?? 1;
  const heavyTilesFirst = !float && (overrides.heavyTilesFirst ?? preferred.heavyTilesFirst ?? false);
  for (const rowGroups of workgroupSizes.map((size) => Math.floor(size / threadsPerRow))) {
    for (const rowsPerThread of rowCandidates) {
      for (const blockN of blockNCandidates(preferredBlockN)) {
        const blockM = rowGroups * rowsPerThread;
        const workgroupBytes = workgroupBytesOf(arithmetic, headDim, blockM, blockN, threadsPerRow);
        if (rowGroups < 1 || workgroupBytes > limits.maxComputeWorkgroupStorageSize) continue;
        const keyGroupsPerThread = Math.ceil(blockN / 4 / threadsPerRow);
        return {
          arithmetic,
          headDim,
          blockM,
          blockN,
          rowsPerThread,
          threadsPerRow,
          channelsPerThread,
          keyGroupsPerThread,
          pvChannelTile,
          heavyTilesFirst,
          workgroupSize: rowGroups * threadsPerRow,
          unrollWords: !limits.software,
          workgroupBytes,
          key:
            `${arithmetic}:d${headDim}:m${blockM}:n${blockN}:tm${rowsPerThread}:tc${threadsPerRow}:wg${rowGroups * threadsPerRow}` +
            `:pc${pvChannelTile}${heavyTilesFirst ? ':heavy-first' : ''}:${limits.software ? 'rolled' : 'unrolled'}`,
        };
      }
    }
  }
  throw new QattnError(
    'ERR_QATTN_UNSUPPORTED',
    `webgpu attention: no ${arithmetic} tile for headDim ${headDim} fits ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`,
    { headDim, arithmetic },
  );
}
