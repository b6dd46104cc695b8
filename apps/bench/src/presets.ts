import type { CacheKindName } from './decode-cache/kinds.js';
import type { CellShape } from './metrics.js';

/** Identifiers of the algorithms the bench sweeps, in table order. */
export const ALGORITHM_IDS = ['flash-int8-pv-int8', 'flash-int8-pv-fp16', 'turbo-attn', 'turbo-attn-exp2', 'float32'] as const;
export type AlgorithmId = (typeof ALGORITHM_IDS)[number];

/** Backends the kernel packages may provide. */
export const BACKEND_NAMES = ['cpu', 'webgpu', 'cuda'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Data distributions of `@qattn/reference`'s generator. */
export const DATA_KINDS = ['llm', 'uniform', 'normal'] as const;
export type DataKind = (typeof DATA_KINDS)[number];

/**
 * The axes of a sweep. Every shape is one element of the cartesian product of the lists; `seqQ: 'same'` pairs the
 * query length with each key length (self-attention / prefill), a list sweeps it independently (decode: `[1]`).
 */
export interface ShapeGrid {
  batch: number[];
  heads: number[];
  /** `'same'`: kvHeads = heads (plain multi-head attention). */
  kvHeads: number[] | 'same';
  seqQ: number[] | 'same';
  seqKV: number[];
  headDim: number[];
  causal: boolean[];
}

/**
 * What a preset runs:
 * - `sweep`: algorithms × backends × shapes, time and accuracy of each cell (the table of the README);
 * - `overhead`: host overhead per call and a leak check over many sequential calls of the GPU backends (src/overhead/);
 * - `schedules`: every WebGPU schedule candidate of flash-int8 × the shapes (src/schedules/);
 * - `sanitize`: one small call per case of every algorithm on cuda, the workload compute-sanitizer runs (src/sanitize.ts);
 * - `decode-cache`: decode steps of `turboDecode` over `@qattn/kv-cache` caches (4-bit, INT8, 4/2 mix) × backends ×
 *   shapes, with PyTorch SDPA decode and a device copy as peers (src/decode-cache/).
 */
export const MODES = ['sweep', 'overhead', 'schedules', 'sanitize', 'decode-cache'] as const;
export type Mode = (typeof MODES)[number];

/** A named starting point for a run; explicit flags override its fields. */
export interface Preset {
  name: PresetName;
  mode: Mode;
  description: string;
  grid: ShapeGrid;
  warmup: number;
  /**
   * Least wall time of the warm-up of every GPU timing, in ms (default DEFAULT_WARMUP_MS): the calls are counted up
   * from a probe call until they span this long, `warmup` being the floor. GPU clocks drop during the bench's
   * CPU-only work (the float64 reference, host inputs) and a few short calls do not bring them back up.
   */
  warmupMs?: number;
  /** Recorded calls per cell (`sweep`, `schedules`); in `overhead`, the repeats of the kernel-time measurement. */
  repeats: number;
  /** Algorithms when `--algorithms` is not given (default: all of them). */
  algorithms?: readonly AlgorithmId[];
  /** Backends when `--backends` is not given (default: `auto`). */
  backends?: readonly BackendName[];
  /** Whether accuracy is measured unless `--no-accuracy` / `--accuracy` says otherwise (default: true). */
  accuracy?: boolean;
  /**
   * `overhead`: sequential calls per entry, timed one by one; the leak check spans them. `decode-cache`: sequential
   * device-resident decode steps timed one by one for the host overhead.
   */
  calls?: number;
  /** `decode-cache`: the cache kinds when `--caches` is not given. */
  caches?: readonly CacheKindName[];
  /**
   * CPU cells whose work exceeds this many giga-operations are skipped (reported as such): the paper shapes would
   * take hours per cell on a CPU. `--cpu-max-gop` overrides.
   */
  cpuMaxGop: number;
}

/** `--warmup-ms` when neither the flag nor the preset gives one. */
export const DEFAULT_WARMUP_MS = 300;

export const PRESET_NAMES = ['quick', 'paper', 'decode', 'decode-cache', 'decode-cache-smoke', 'overhead', 'schedules', 'profile', 'sanitize'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const PRESETS: Record<PresetName, Preset> = {
  quick: {
    name: 'quick',
    mode: 'sweep',
    description: 'the default: every available backend, accuracy of every algorithm, under a minute on a 2-core CPU',
    grid: { batch: [1], heads: [4], kvHeads: 'same', seqQ: 'same', seqKV: [256, 512], headDim: [64], causal: [false, true] },
    warmup: 1,
    repeats: 3,
    cpuMaxGop: 2,
  },
  paper: {
    name: 'paper',
    mode: 'sweep',
    description: 'the prefill grid of the INT-FlashAttention/TurboAttention papers (meant for a GPU)',
    grid: {
      batch: [4],
      heads: [32],
      kvHeads: 'same',
      seqQ: 'same',
      seqKV: [1024, 2048, 4096, 8192, 16384],
      headDim: [64, 128],
      causal: [false, true],
    },
    warmup: 3,
    repeats: 10,
    cpuMaxGop: 20,
  },
  decode: {
    name: 'decode',
    mode: 'sweep',
    description: 'decoding: one query token against a long KV cache (GQA)',
    grid: { batch: [4], heads: [32], kvHeads: [8], seqQ: [1], seqKV: [1024, 4096, 16384, 65536], headDim: [128], causal: [false] },
    warmup: 3,
    repeats: 10,
    // 1K and 4K on the CPU (≈ 1 s per call in JavaScript); 16K/64K would take minutes per cell.
    cpuMaxGop: 2,
  },
  'decode-cache': {
    name: 'decode-cache',
    mode: 'decode-cache',
    description: 'decode steps of turboDecode over the quantized KV cache vs PyTorch SDPA decode and a device copy (issue 9)',
    // Issue 9's decode shape: Llama-3-8B-like GQA (32 query heads on 8 kv heads), one new token per sequence.
    grid: { batch: [4], heads: [32], kvHeads: [8], seqQ: [1], seqKV: [4096, 16384, 65536], headDim: [128], causal: [false] },
    warmup: 3,
    repeats: 20,
    algorithms: ['turbo-attn'],
    caches: ['int4', 'int8', 'mix'],
    calls: 300,
    // 4K on the CPU (≈ 1 s per decode step in JavaScript, plus filling the caches); 16K/64K would take minutes.
    cpuMaxGop: 0.3,
  },
  'decode-cache-smoke': {
    name: 'decode-cache-smoke',
    mode: 'decode-cache',
    description: 'the decode-cache preset at a tiny shape (odd lengths across page boundaries): seconds on a CPU, for CI',
    grid: { batch: [1], heads: [8], kvHeads: [2], seqQ: [1], seqKV: [300, 1000], headDim: [64], causal: [false] },
    warmup: 1,
    repeats: 3,
    algorithms: ['turbo-attn'],
    caches: ['int4', 'int8', 'mix'],
    calls: 50,
    cpuMaxGop: 0.01,
  },
  overhead: {
    name: 'overhead',
    mode: 'overhead',
    description: 'host overhead per call (wall − kernel time) and leaks over 10k sequential calls, GPU backends only',
    // The tiny shape of issue 8: the kernels take a few microseconds, so the wall time is almost all host work.
    grid: { batch: [1], heads: [2], kvHeads: 'same', seqQ: 'same', seqKV: [64], headDim: [64], causal: [false] },
    warmup: 100,
    repeats: 200,
    algorithms: ['flash-int8-pv-int8', 'turbo-attn'],
    accuracy: false,
    calls: 10_000,
    cpuMaxGop: 0.001,
  },
  schedules: {
    name: 'schedules',
    mode: 'schedules',
    description: 'every candidate of the WebGPU attention schedule (rows/thread × workgroup × P·V channel tile × heavy-first) × the shapes; -a turbo-attn too',
    // The shapes the schedule rule of flash-int8 was tuned on (its README, WebGPU section).
    grid: { batch: [1], heads: [32], kvHeads: 'same', seqQ: 'same', seqKV: [1024, 4096], headDim: [128], causal: [false, true] },
    warmup: 3,
    repeats: 10,
    algorithms: ['flash-int8-pv-int8'],
    backends: ['webgpu'],
    accuracy: false,
    cpuMaxGop: 0.001,
  },
  profile: {
    name: 'profile',
    mode: 'sweep',
    description: 'one cuda call of one shape for Nsight Compute (ncu --kernel-name regex:attn_fwd --launch-count 1 …)',
    grid: { batch: [1], heads: [32], kvHeads: 'same', seqQ: 'same', seqKV: [4096], headDim: [128], causal: [false] },
    warmup: 0,
    // One call for the profiler: Nsight Compute fixes the clocks itself, and a timed warm-up would add hundreds.
    warmupMs: 0,
    repeats: 1,
    algorithms: ['flash-int8-pv-int8'],
    backends: ['cuda'],
    accuracy: false,
    cpuMaxGop: 0.001,
  },
  sanitize: {
    name: 'sanitize',
    mode: 'sanitize',
    description: 'small odd-shaped calls of every algorithm and variant on cuda, the compute-sanitizer workload (fails on any error)',
    // Not a grid: the cases are in src/sanitize.ts (odd lengths, GQA, every variant); this grid is unused.
    grid: { batch: [1], heads: [2], kvHeads: 'same', seqQ: 'same', seqKV: [64], headDim: [64], causal: [false] },
    warmup: 0,
    repeats: 1,
    backends: ['cuda'],
    accuracy: false,
    cpuMaxGop: 0.001,
  },
};

/**
 * Expands a grid into its shapes, in a stable order (headDim, causal, batch, heads, kvHeads, seqKV, seqQ: the
 * sequence length varies fastest so a plot series is contiguous). Combinations where kvHeads does not divide heads
 * are dropped and returned apart so the caller can say so.
 */
export function expandGrid(grid: ShapeGrid): { shapes: CellShape[]; dropped: string[] } {
  const shapes: CellShape[] = [];
  const dropped: string[] = [];
  for (const headDim of grid.headDim) {
    for (const causal of grid.causal) {
      for (const batch of grid.batch) {
        for (const heads of grid.heads) {
          for (const kvHeads of grid.kvHeads === 'same' ? [heads] : grid.kvHeads) {
            if (heads % kvHeads !== 0) {
              dropped.push(`heads ${heads} / kvHeads ${kvHeads}: kvHeads must divide heads`);
              continue;
            }
            for (const seqKV of grid.seqKV) {
              for (const seqQ of grid.seqQ === 'same' ? [seqKV] : grid.seqQ) {
                shapes.push({ batch, heads, kvHeads, seqQ, seqKV, headDim, causal });
              }
            }
          }
        }
      }
    }
  }
  return { shapes, dropped: [...new Set(dropped)] };
}
