import type { CellShape } from './metrics.js';

/** Identifiers of the algorithms the bench sweeps, in table order. */
export const ALGORITHM_IDS = ['flash-int8-pv-int8', 'flash-int8-pv-fp16', 'turbo-attn', 'float32'] as const;
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

/** A named starting point for a sweep; explicit flags override its fields. */
export interface Preset {
  name: PresetName;
  description: string;
  grid: ShapeGrid;
  warmup: number;
  repeats: number;
  /**
   * CPU cells whose work exceeds this many giga-operations are skipped (reported as such): the paper shapes would
   * take hours per cell on a CPU. `--cpu-max-gop` overrides.
   */
  cpuMaxGop: number;
}

export const PRESET_NAMES = ['quick', 'paper', 'decode'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const PRESETS: Record<PresetName, Preset> = {
  quick: {
    name: 'quick',
    description: 'the default: every available backend, accuracy of every algorithm, under a minute on a 2-core CPU',
    grid: { batch: [1], heads: [4], kvHeads: 'same', seqQ: 'same', seqKV: [256, 512], headDim: [64], causal: [false, true] },
    warmup: 1,
    repeats: 3,
    cpuMaxGop: 2,
  },
  paper: {
    name: 'paper',
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
    description: 'decoding: one query token against a long KV cache (GQA)',
    grid: { batch: [4], heads: [32], kvHeads: [8], seqQ: [1], seqKV: [1024, 4096, 16384, 65536], headDim: [128], causal: [false] },
    warmup: 3,
    repeats: 10,
    // 1K and 4K on the CPU (≈ 1 s per call in JavaScript); 16K/64K would take minutes per cell.
    cpuMaxGop: 2,
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
