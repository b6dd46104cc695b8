import { sasExp2 } from '@qattn/quant-core';

/**
 * The softmax variant the FlashQ kernel consumes (FlashInfer-style: the kernel body only reads this record).
 * Built once per call from the validated options.
 */
export interface FlashQVariant {
  /** Base-2 exponent of a score difference x ≤ 0 (−∞ for masked scores must give 0). */
  exp2(x: number, threshold: number): number;
  /** Sparsity threshold T handed to `exp2`; `Infinity` when the exponent is exact. */
  threshold: number;
  /**
   * Skip the P and P·V work of a tile whose every score lies more than `threshold` below its row's running max. Exact
   * (such a tile's P is all 0 under SAS); a separate switch so tests can check that skipping changes nothing.
   */
  skipSparseTiles: boolean;
  /** How the INT8 P tile is scaled: per row by its tile maximum, or by INT-FlashAttention's global 1/127. */
  pScale: 'rowmax' | 'global';
}

/** Exact exp2 rounded to fp32 (the `sas: false` variant); no sparsity. */
export function exp2Fp32(x: number): number {
  return Math.fround(2 ** x);
}

/** The variant record of validated turbo options. */
export function flashQVariant(options: { sas: boolean; sasThreshold: number; pScale: 'rowmax' | 'global' }): FlashQVariant {
  return options.sas
    ? { exp2: sasExp2, threshold: options.sasThreshold, skipSparseTiles: true, pScale: options.pScale }
    : { exp2: exp2Fp32, threshold: Infinity, skipSparseTiles: false, pScale: options.pScale };
}
