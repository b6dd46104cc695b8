import type { SubgroupMatrixConfig } from '@qattn/webgpu-runtime';

/**
 * What the subgroup-matrix path depends on about the device: the feature, subgroup sizes, the adapter's matrix
 * configurations (`GPUAdapterInfo.subgroupMatrixConfigs`) and the limits that bound a workgroup.
 */
export interface SubgroupMatrixDevice {
  /** `chromium-experimental-subgroup-matrix` on the device. */
  subgroupMatrix: boolean;
  subgroups: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  configs: readonly SubgroupMatrixConfig[];
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

/** The call's side: the variant fields the kernel implements, and the key tile the dot4 schedule chose. */
export interface SubgroupMatrixProblem {
  headDim: number;
  /** The variant's key tile (the CPU oracle's P block): the kernel's key tile must be exactly it. */
  blockN: number;
  /** The key tile of the dot4 plan whose quantized workspace and uniforms the kernel reuses. */
  planBlockN: number;
  pv: 'int8' | 'fp16';
  pCodeMax: 127 | 255;
  exponent: 'exp2' | 'sas';
}

/** One matrix shape the kernel runs: M×K · K×N → M×N of `operand` bytes into `result`. */
export interface MatrixShape {
  M: number;
  N: number;
  K: number;
  operand: 'i8' | 'u8';
  result: 'i32' | 'u32';
}

/**
 * The subgroup-matrix kernel's schedule. A workgroup of `subgroups` subgroups computes `blockM` = subgroups · M query
 * rows of one (batch, head); subgroup s owns rows s·M… in both products. Between the products every thread owns one
 * query row and `rowThreads` = subgroupSize / M threads share a row (its keys in the softmax, its channels in the
 * output). Strides are in bytes for the 8-bit tiles and in elements for the 32-bit ones, all multiples of 16 bytes
 * (cooperative-matrix loads and stores need 16-byte aligned rows); the 16 bytes of padding also shift consecutive rows
 * across memory banks.
 */
export interface SubgroupMatrixSchedule {
  qk: MatrixShape;
  pv: MatrixShape;
  subgroupSize: number;
  subgroups: number;
  workgroupSize: number;
  blockM: number;
  blockN: number;
  headDim: number;
  rowThreads: number;
  /** Output channels staged per round of the P·V result through workgroup memory. */
  outChunk: number;
  /** Q and K tiles: bytes per row (headDim + 16). */
  qkStride: number;
  /** V (transposed: a row per channel) and P tiles: bytes per row (blockN + 16). */
  pvStride: number;
  /** S (i32 scores): elements per row (blockN + 4). */
  scoreStride: number;
  /** P·V result staging: elements per row (outChunk + 4). */
  outStride: number;
  /** 32-bit words of the three workgroup arrays: Q then S; K; V and P, then the P·V result staging. */
  words: { qs: number; k: number; vp: number };
  workgroupBytes: number;
  /** Pipeline cache key: everything that changes the generated WGSL besides the variant. */
  key: string;
  /** What the bench's path column shows. */
  label: string;
}

/** The path the INT8 attention takes: the subgroup-matrix kernel, or the dot4 kernel and why. */
export type Int8MatrixPath = { kind: 'subgroup-matrix'; schedule: SubgroupMatrixSchedule } | { kind: 'dot4'; reason: string };

/** Rows of a thread's output tile beyond which its accumulators would spill (headDim / rowThreads f32 registers). */
const MAX_CHANNELS_PER_THREAD = 64;
const PAD_BYTES = 16;
/** Subgroups per workgroup, most first: 4 (blockM 64 at M 16) reuses each K/V tile for 64 queries. */
const SUBGROUP_COUNTS = [4, 2, 1];

/**
 * The largest matrix shape of `operand` → `result` whose dims fit: M divides the subgroup size, K divides `kDim`, N
 * divides `nDim` (and equals `M` when `rowsM` is given, M must match it). Largest M·N·K first: most arithmetic per load.
 */
function pickConfig(
  configs: readonly SubgroupMatrixConfig[],
  operand: 'i8' | 'u8',
  result: 'i32' | 'u32',
  fit: { subgroupSize: number; kDim: number; nDim: number; M?: number },
): MatrixShape | undefined {
  const candidates = configs
    .filter((c) => c.componentType === operand && c.resultComponentType === result)
    .filter((c) => fit.subgroupSize % c.M === 0 && fit.kDim % c.K === 0 && fit.nDim % c.N === 0 && (fit.M === undefined || c.M === fit.M))
    .sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K || b.N - a.N);
  const best = candidates[0];
  return best && { M: best.M, N: best.N, K: best.K, operand, result };
}

const shapeText = (s: MatrixShape) => `${s.operand} ${s.M}×${s.N}×${s.K}`;

/**
 * Picks the subgroup-matrix kernel's configuration for a call, or says why the dot4 kernel runs instead: a pure function
 * of the device's features, subgroup sizes, matrix configurations and limits, the call's variant, and `requested`.
 *
 * - Q·Kᵀ: an i8×i8→i32 configuration (INT8 Q̂ and K̂ codes as they are).
 * - P·V with `pCodeMax` 255: u8×u8→u32, with V̂ offset to unsigned (v + 128, its top bit flipped) and 128·ΣP̂ taken off
 *   each row per tile: the exact correction of the dot4 path's `dot4U8Packed`. With `pCodeMax` 127: i8×i8→i32 where the
 *   adapter has it (P̂ ≤ 127 is a valid i8, V̂ as is, no correction), else the u8 route.
 * - Both share M (a subgroup's query rows); Q·Kᵀ's K divides headDim and N the key tile; P·V's K divides the key tile
 *   and N headDim. The key tile is the variant's blockN, which must also be the dot4 plan's (the kernel reads that
 *   plan's uniforms and V scale blocks).
 * - One fixed subgroup size (min = max): rows map to lanes at that size. headDim / rowThreads ≤ 64 output registers.
 * - Workgroup memory: 4 subgroups, else 2, else 1, with the widest output chunk (a multiple of P·V's N dividing headDim)
 *   that fits the device's limit.
 *
 * Until the kernel is verified on hardware it runs only when `requested` (opt-in: `QATTN_WEBGPU_SUBGROUP_MATRIX=1`, or
 * the explicit run option): never chosen on its own.
 */
export function chooseInt8MatrixPath(device: SubgroupMatrixDevice, problem: SubgroupMatrixProblem, requested: boolean): Int8MatrixPath {
  const dot4 = (reason: string): Int8MatrixPath => ({ kind: 'dot4', reason });
  if (!requested) return dot4('subgroup matrices are opt-in until verified on hardware (QATTN_WEBGPU_SUBGROUP_MATRIX=1 or the subgroupMatrix run option)');
  if (!device.subgroupMatrix) {
    return dot4(
      'the device lacks chromium-experimental-subgroup-matrix: the adapter does not offer it (no cooperative-matrix ' +
        'driver, e.g. SwiftShader or lavapipe; Chrome offers it only with --enable-unsafe-webgpu, Dawn only with ' +
        'allow_unsafe_apis) or the device was acquired without asking for it (acquireGpu({ subgroupMatrix: true }) or ' +
        'QATTN_WEBGPU_SUBGROUP_MATRIX=1 before the first WebGPU call)',
    );
  }
  if (device.configs.length === 0) {
    return dot4('the adapter reports no subgroup-matrix configurations (GPUAdapterInfo.subgroupMatrixConfigs is empty): it has the feature but no matrix shape to run');
  }
  if (!device.subgroups) return dot4('the device lacks subgroups');
  const { subgroupMinSize: minSize, subgroupMaxSize: maxSize } = device;
  if (minSize === 0 || minSize !== maxSize) return dot4(`the subgroup size is not fixed (${minSize}–${maxSize}): the kernel maps rows to lanes at one size`);
  if (problem.pv !== 'int8') return dot4("pv 'fp16' has no INT8 P·V");
  if (problem.exponent !== 'exp2') return dot4('the kernel implements the exp2 softmax only');
  if (problem.blockN !== problem.planBlockN) {
    return dot4(`the dot4 plan's key tile (${problem.planBlockN}) differs from blockN ${problem.blockN}, whose V scales and P blocks the kernel must match`);
  }
  const subgroupSize = minSize;
  const { headDim, blockN } = problem;
  const qk = pickConfig(device.configs, 'i8', 'i32', { subgroupSize, kDim: headDim, nDim: blockN });
  if (!qk) return dot4(`no i8×i8→i32 configuration fits headDim ${headDim}, blockN ${blockN}, subgroup size ${subgroupSize}`);
  const pvFit = { subgroupSize, kDim: blockN, nDim: headDim, M: qk.M };
  const pv =
    (problem.pCodeMax === 127 ? pickConfig(device.configs, 'i8', 'i32', pvFit) : undefined) ?? pickConfig(device.configs, 'u8', 'u32', pvFit);
  if (!pv) return dot4(`no ${problem.pCodeMax === 127 ? 'i8×i8→i32 or ' : ''}u8×u8→u32 configuration with M ${qk.M} fits blockN ${blockN}, headDim ${headDim}`);
  const rowThreads = subgroupSize / qk.M;
  if (headDim / rowThreads > MAX_CHANNELS_PER_THREAD) {
    return dot4(`headDim ${headDim} would give each thread ${headDim / rowThreads} output accumulators (at most ${MAX_CHANNELS_PER_THREAD})`);
  }
  if (blockN % 4 !== 0 || blockN % rowThreads !== 0 || (blockN / rowThreads) % 4 !== 0) return dot4(`blockN ${blockN} does not split into whole P words per thread`);

  const qkStride = headDim + PAD_BYTES;
  const pvStride = blockN + PAD_BYTES;
  const scoreStride = blockN + 4;
  // Output chunks: multiples of P·V's N dividing headDim, whose per-thread share is whole; widest first.
  const chunks = [];
  for (let chunk = headDim; chunk >= pv.N; chunk -= pv.N) {
    if (headDim % chunk === 0 && chunk % rowThreads === 0) chunks.push(chunk);
  }
  for (const subgroups of SUBGROUP_COUNTS) {
    const workgroupSize = subgroups * subgroupSize;
    if (workgroupSize > device.maxComputeInvocationsPerWorkgroup) continue;
    const blockM = subgroups * qk.M;
    const qsWords = Math.max((blockM * qkStride) / 4, blockM * scoreStride);
    const kWords = (blockN * qkStride) / 4;
    const vpInputWords = (headDim * pvStride + blockM * pvStride) / 4;
    // Per row: k_scale, the row max partials and the P code sum partials.
    const smallBytes = blockN * 4 + 2 * blockM * rowThreads * 4;
    for (const outChunk of chunks) {
      const outStride = outChunk + 4;
      const vpWords = Math.max(vpInputWords, blockM * outStride);
      const workgroupBytes = (qsWords + kWords + vpWords) * 4 + smallBytes;
      if (workgroupBytes > device.maxComputeWorkgroupStorageSize) continue;
      const label = `sgmat ${shapeText(qk)} · ${shapeText(pv)}`;
      return {
        kind: 'subgroup-matrix',
        schedule: {
          qk,
          pv,
          subgroupSize,
          subgroups,
          workgroupSize,
          blockM,
          blockN,
          headDim,
          rowThreads,
          outChunk,
          qkStride,
          pvStride,
          scoreStride,
          outStride,
          words: { qs: qsWords, k: kWords, vp: vpWords },
          workgroupBytes,
          key: `sgmat:d${headDim}:m${blockM}:n${blockN}:sg${subgroupSize}x${subgroups}:qk${qk.M}x${qk.N}x${qk.K}:pv-${pv.operand}${pv.M}x${pv.N}x${pv.K}:oc${outChunk}`,
          label,
        },
      };
    }
  }
  return dot4(`no subgroup-matrix tile for headDim ${headDim}, blockN ${blockN} fits ${device.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
}
