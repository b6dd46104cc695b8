import { type AttentionVariant, type TileStats, assertInt32Accumulation, attnFwdQuantizedCpu, benchmarkData, timeOnHost } from '@qattn/quant-core';
import { assertTurboCallRanges } from '../input-ranges.js';
import type { TurboBackend, TurboCall } from '../backends.js';
import type { ResolvedTurboOptions } from '../options.js';
import { quantizeFlashQ } from './quantize_flashq_cpu.js';

/** What the CPU oracle skipped: quant-core's {@link TileStats} under the name turbo-attn's API has always used. */
export type FlashQStats = TileStats;

/** FlashQ's INT8 P codes are signed int8: [0, 127]. */
const FLASHQ_P_CODE_MAX = 127;

/**
 * FlashQ + SAS as a variant of quant-core's tile loop (docs/KERNELS.md): the SAS exponent with its threshold and the
 * skip of tiles it makes all-zero (`sas: true`), or exact exp2 without sparsity (`sas: false`); INT8 P codes in
 * [0, 127] with the options' P scale; INT8 P·V.
 */
export function flashQVariant(options: Pick<ResolvedTurboOptions, 'sas' | 'sasThreshold' | 'pScale'>): AttentionVariant {
  return {
    exponent: options.sas ? 'sas' : 'exp2',
    sasThreshold: options.sasThreshold,
    skipSparseTiles: options.sas,
    pScale: options.pScale,
    pCodeMax: FLASHQ_P_CODE_MAX,
    pv: 'int8',
  };
}

/**
 * Runs TurboAttention's FlashQ + SAS on the CPU — the readable oracle of its kernels: {@link quantizeFlashQ}, then
 * quant-core's `attnFwdQuantizedCpu` with {@link flashQVariant} — and reports which tiles were skipped. Inputs must
 * already be validated (`turboAttention` does it); they are never modified.
 */
export function turboAttentionCpu(call: TurboCall): { out: Float32Array; stats: FlashQStats } {
  const { q, k, v, shape, scale, causal, options } = call;
  const variant = flashQVariant(options);
  assertInt32Accumulation('turboAttention', shape.headDim, options.blockN, variant.pCodeMax);
  assertTurboCallRanges(call);
  const operands = quantizeFlashQ(q, k, v, shape, options);
  return attnFwdQuantizedCpu(operands, shape, { scale, causal, blockM: options.blockM, blockN: options.blockN }, variant);
}

/**
 * The CPU backend: always available, single-threaded, the readable reference implementation of FlashQ that GPU
 * backends are checked against.
 */
export function createCpuBackend(): TurboBackend {
  return {
    name: 'cpu',
    async run(call) {
      return turboAttentionCpu(call).out;
    },
    async benchmark(shape, scale, causal, options, settings) {
      const q = benchmarkData(shape.qElements, settings.seed);
      const k = benchmarkData(shape.kvElements, settings.seed + 1);
      const v = benchmarkData(shape.kvElements, settings.seed + 2);
      return timeOnHost('cpu', settings, () => turboAttentionCpu({ q, k, v, shape, scale, causal, options }));
    },
  };
}
