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
  return qTile + kTile + kScale + headDim * pvStride * 4 + blockM * pvStride * 4 + rowPartial;
}

/**
 * Picks the tiles of the attention kernel for a head dim on a device: a pure function of its arguments.
 *
 * Preference order (first that fits the device's workgroup memory and invocation limits wins):
 * 128 threads (4 NVIDIA warps); `threadsPerRow` 8 up to headDim 128 and 16 above, so a thread accumulates at most
 * 16 channels per row; 4 rows per thread (a K word loaded from workgroup memory feeds 4 dot products) falling back
 * to 2 and 1; `blockN` 64 then 32 then 16 keys (`preferredBlockN` first, so the kernel's P tiles match the CPU oracle's
blockN). For int8 at headDim 128 this gives 64×64 tiles in 31.5 KiB, which
 * fits the 32 KiB of lavapipe and the 48 KiB of NVIDIA's Vulkan driver; the f32 baseline, whose words are 4× larger,
 * lands on 16×32 (or smaller) tiles — the memory advantage INT8 buys.
 *
 * Throws `ERR_QATTN_UNSUPPORTED` for head dims outside {@link isSupportedHeadDim} or devices too small for any tile.
 */
export function chooseAttentionSchedule(
  arithmetic: AttentionArithmetic,
  headDim: number,
  limits: ScheduleLimits,
  preferredBlockN?: number,
  preferredRowsPerThread?: 1 | 2 | 4,
): AttentionSchedule {
  if (!isSupportedHeadDim(headDim)) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `flash-int8 webgpu: headDim ${headDim} is not supported (multiples of 16 from 32 to 256)`, {
      headDim,
    });
  }
  const threadsPerRow = headDim <= 128 ? 8 : 16;
  const float = arithmetic === 'f32' || arithmetic === 'f16';
  // The float baselines give each thread whole vec4 channel words.
  if (float && (headDim / 4) % threadsPerRow !== 0) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `flash-int8 webgpu: the ${arithmetic} baseline needs headDim a multiple of ${4 * threadsPerRow}`, {
      headDim,
    });
  }
  const workgroupSize = Math.min(128, limits.maxComputeInvocationsPerWorkgroup);
  const rowGroups = Math.floor(workgroupSize / threadsPerRow);
  const rowCandidates = preferredRowsPerThread ? [preferredRowsPerThread] : limits.software ? [1] : [4, 2, 1];
  for (const rowsPerThread of rowCandidates) {
    for (const blockN of blockNCandidates(preferredBlockN)) {
      const blockM = rowGroups * rowsPerThread;
      const workgroupBytes = workgroupBytesOf(arithmetic, headDim, blockM, blockN, threadsPerRow);
      if (rowGroups < 1 || workgroupBytes > limits.maxComputeWorkgroupStorageSize) continue;
      const channelsPerThread = headDim / threadsPerRow;
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
        workgroupSize: rowGroups * threadsPerRow,
        unrollWords: !limits.software,
        workgroupBytes,
        key: `${arithmetic}:d${headDim}:m${blockM}:n${blockN}:tm${rowsPerThread}:tc${threadsPerRow}:${limits.software ? 'rolled' : 'unrolled'}`,
      };
    }
  }
  throw new QattnError(
    'ERR_QATTN_UNSUPPORTED',
    `flash-int8 webgpu: no ${arithmetic} tile for headDim ${headDim} fits ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`,
    { headDim, arithmetic },
  );
}
