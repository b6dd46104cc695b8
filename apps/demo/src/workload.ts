import { type AttentionShape, QattnError } from '@qattn/quant-core';

/** The demo's sizes: `ci` for software adapters (SwiftShader, lavapipe), `transformer` by default, `large` for real GPUs. */
export type PresetName = 'ci' | 'transformer' | 'large';

/** What one page load runs: the prefill attention shape and the decode loop after it. */
export interface Workload {
  preset: PresetName;
  /** The prefill: seqQ = seqKV = the prompt length. */
  shape: Required<AttentionShape>;
  causal: boolean;
  /** Decode steps after the prompt, one new token each. */
  decodeSteps: number;
  /** Timed repetitions of each attention kernel (after one warmup). */
  repeats: number;
}

interface Preset {
  heads: number;
  kvHeads: number;
  seq: number;
  headDim: number;
  decodeSteps: number;
  repeats: number;
}

/**
 * `transformer` is one attention layer of a small LLM at a 1K-token prompt (8 query heads sharing 2 kv heads, as in
 * grouped-query models); `ci` is 1/32 of its work so that a CPU-emulated adapter finishes in seconds; `large` is a
 * Llama-8B-sized layer at 2K tokens for discrete GPUs.
 */
export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  ci: { heads: 4, kvHeads: 2, seq: 256, headDim: 64, decodeSteps: 8, repeats: 3 },
  transformer: { heads: 8, kvHeads: 2, seq: 1024, headDim: 64, decodeSteps: 32, repeats: 5 },
  large: { heads: 32, kvHeads: 8, seq: 2048, headDim: 128, decodeSteps: 64, repeats: 10 },
};

/** Query parameters that override a preset's fields, with the range each accepts. */
const OVERRIDES = {
  heads: { field: 'heads', min: 1, max: 128 },
  kvHeads: { field: 'kvHeads', min: 1, max: 128 },
  seq: { field: 'seq', min: 16, max: 16384 },
  headDim: { field: 'headDim', min: 32, max: 256 },
  steps: { field: 'decodeSteps', min: 1, max: 1024 },
  repeats: { field: 'repeats', min: 1, max: 100 },
} as const satisfies Record<string, { field: keyof Preset; min: number; max: number }>;

function integerParam(params: URLSearchParams, name: keyof typeof OVERRIDES): number | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  const { min, max } = OVERRIDES[name];
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new QattnError('ERR_QATTN_OPTION', `URL parameter ${name} must be an integer in [${min}, ${max}], got '${raw}'`, { option: name });
  }
  return value;
}

/**
 * The workload a page URL asks for: `?size=ci|transformer|large` (default `transformer`), then any of `heads`,
 * `kvHeads`, `seq`, `headDim`, `steps`, `repeats` and `causal=0|1` (default 1: a prefill is causal) on top.
 * Bad values are `ERR_QATTN_OPTION` naming the parameter; shapes the kernels reject (a headDim that is not a multiple
 * of 16, heads not a multiple of kvHeads) are theirs to report.
 *
 * @example
 * parseWorkload('?size=ci&seq=512').shape; // { batch: 1, heads: 4, kvHeads: 2, seqQ: 512, seqKV: 512, headDim: 64 }
 */
export function parseWorkload(search: string): Workload {
  const params = new URLSearchParams(search);
  const size = params.get('size') ?? 'transformer';
  if (!Object.hasOwn(PRESETS, size)) {
    throw new QattnError('ERR_QATTN_OPTION', `URL parameter size must be one of ${Object.keys(PRESETS).join(', ')}, got '${size}'`, { option: 'size' });
  }
  const preset: Preset = { ...PRESETS[size as PresetName] };
  for (const name of Object.keys(OVERRIDES) as Array<keyof typeof OVERRIDES>) {
    const value = integerParam(params, name);
    if (value !== undefined) preset[OVERRIDES[name].field] = value;
  }
  const causalParam = params.get('causal');
  if (causalParam !== null && causalParam !== '0' && causalParam !== '1') {
    throw new QattnError('ERR_QATTN_OPTION', `URL parameter causal must be 0 or 1, got '${causalParam}'`, { option: 'causal' });
  }
  return {
    preset: size as PresetName,
    shape: { batch: 1, heads: preset.heads, kvHeads: preset.kvHeads, seqQ: preset.seq, seqKV: preset.seq, headDim: preset.headDim },
    causal: causalParam !== '0',
    decodeSteps: preset.decodeSteps,
    repeats: preset.repeats,
  };
}

/**
 * Operations of one attention call, the convention of the README's TOPS: 4·B·H·Sq·Skv·D (two matrix products of two
 * operations per multiply-add), halved when causal with Sq = Skv (the masked half is skipped).
 */
export function attentionOps(shape: Required<AttentionShape>, causal: boolean): number {
  const dense = 4 * shape.batch * shape.heads * shape.seqQ * shape.seqKV * shape.headDim;
  return causal && shape.seqQ === shape.seqKV ? dense / 2 : dense;
}

/** Tera-operations per second of one call of `ops` operations that took `ms` milliseconds. */
export function teraOpsPerSecond(ops: number, ms: number): number {
  return ops / (ms * 1e9);
}
