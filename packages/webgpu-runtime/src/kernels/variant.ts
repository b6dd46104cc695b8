import { QattnError, SAS_MAX_THRESHOLD } from '@qattn/quant-core';
import type { ExponentName } from './exponent.js';

/**
 * One quantized-attention algorithm as plain data (docs/KERNELS.md's variant table): a kernel package maps its
 * validated options to this record, and the WebGPU skeleton — quantization passes and `attn_fwd_int8.wgsl` — only
 * reads it. The softmax fields are those of quant-core's CPU variant record; the rest say how Q, K and V are quantized.
 *
 * | field                | INT-FlashAttention (flash-int8 defaults) | FlashQ + SAS (turbo-attn defaults)      |
 * |----------------------|------------------------------------------|-----------------------------------------|
 * | `qRowsPerScale`      | 1 (per token)                            | blockM                                  |
 * | `kRowsPerScale`      | 1                                        | blockN                                  |
 * | `smoothK`            | true                                     | true                                    |
 * | `vScale`             | per (blockN keys, channel)               | per (blockN keys, channel), or blockN keys |
 * | `smoothV`            | false                                    | true                                    |
 * | `exponent`           | `'exp2'`                                 | `'sas'`                                 |
 * | `skipSparseTiles`    | false                                    | true                                    |
 * | `pCodeMax`, `pScale` | 255, `'rowmax'`                          | 127, `'rowmax'`                         |
 */
export interface QuantizedAttentionVariant {
  /** Queries per Q scale: 1 = per token, blockM = one scale per block of queries of a head. */
  readonly qRowsPerScale: number;
  /** Keys per K scale: 1 = per token, blockN = one scale per block of keys of a kv head. */
  readonly kRowsPerScale: number;
  /** Subtract K's per-channel mean over tokens before quantizing (exact: softmax ignores a per-row shift). */
  readonly smoothK: boolean;
  /** P·V precision: INT8 P̂ and V̂ with INT32 accumulation, or P and V in f16 with f32 accumulation. */
  readonly pv: 'int8' | 'fp16';
  /**
   * INT8 V scales: one per `keysPerScale` keys (`'all'`: the whole sequence) and per channel, or shared by every
   * channel of the block (`perChannel: false`). A block must cover whole kernel key tiles. Ignored with `pv: 'fp16'`.
   */
  readonly vScale: { readonly keysPerScale: number | 'all'; readonly perChannel: boolean };
  /** Subtract V's per-channel mean before quantizing it; the kernel adds it back to the output (P's rows sum to 1). */
  readonly smoothV: boolean;
  /** Largest P code: 127 (signed bytes) or 255 (unsigned bytes, a u8·s8 product against V). */
  readonly pCodeMax: 127 | 255;
  /** What P's largest code stands for: the row's largest P in the key tile (`'rowmax'`), or 1 (`'global'`). */
  readonly pScale: 'rowmax' | 'global';
  /**
   * The base-2 exponent: exact `exp2`, or TurboAttention's SAS (quant-core `sasExp2`, threshold `sasThreshold`). The
   * arithmetic SAS runs in is the device's choice (the plan's `kernel.sasPrecision`), not part of the algorithm.
   */
  readonly exponent: ExponentName;
  /** SAS threshold T (base 2) in [0, SAS_MAX_THRESHOLD]; read only by `exponent: 'sas'`. */
  readonly sasThreshold: number;
  /**
   * Skip P and P·V of a key tile where every score is more than T below its row's running max, for every row of the
   * workgroup (one workgroup-uniform decision). Exact under SAS: such a tile's P is all 0. No effect with `'exp2'`.
   */
  readonly skipSparseTiles: boolean;
  /**
   * Keys per tile of the CPU oracle: the kernel's key tile when the device allows (P's `'rowmax'` scale then covers
   * the same keys as the oracle's).
   */
  readonly blockN: number;
}

/** Throws `ERR_QATTN_OPTION` when `variant` is malformed (a kernel package's mapping bug, checked once per plan). */
export function checkQuantizedAttentionVariant(variant: QuantizedAttentionVariant): QuantizedAttentionVariant {
  const fail = (field: keyof QuantizedAttentionVariant, expected: string): never => {
    throw new QattnError('ERR_QATTN_OPTION', `attention variant: ${field} must be ${expected}, got ${JSON.stringify(variant?.[field])}`, {
      option: field,
    });
  };
  const positiveInteger = (x: unknown) => Number.isInteger(x) && (x as number) >= 1;
  if (!positiveInteger(variant?.qRowsPerScale)) fail('qRowsPerScale', 'a positive integer');
  if (!positiveInteger(variant.kRowsPerScale)) fail('kRowsPerScale', 'a positive integer');
  if (!positiveInteger(variant.blockN)) fail('blockN', 'a positive integer');
  if (variant.pv !== 'int8' && variant.pv !== 'fp16') fail('pv', "'int8' or 'fp16'");
  const keys = variant.vScale?.keysPerScale;
  if (!(keys === 'all' || positiveInteger(keys)) || typeof variant.vScale.perChannel !== 'boolean') {
    fail('vScale', "{ keysPerScale: 'all' or a positive integer, perChannel: boolean }");
  }
  if (variant.pCodeMax !== 127 && variant.pCodeMax !== 255) fail('pCodeMax', '127 or 255');
  if (variant.pScale !== 'rowmax' && variant.pScale !== 'global') fail('pScale', "'rowmax' or 'global'");
  if (variant.exponent !== 'exp2' && variant.exponent !== 'sas') fail('exponent', "'exp2' or 'sas'");
  const threshold = variant.sasThreshold;
  if (variant.exponent === 'sas' && !(typeof threshold === 'number' && threshold >= 0 && threshold <= SAS_MAX_THRESHOLD)) {
    fail('sasThreshold', `a number in [0, ${SAS_MAX_THRESHOLD}]`);
  }
  for (const flag of ['smoothK', 'smoothV', 'skipSparseTiles'] as const) if (typeof variant[flag] !== 'boolean') fail(flag, 'a boolean');
  return variant;
}

/** A stable string naming every field of a variant (plan cache keys). */
export function quantizedAttentionVariantKey(variant: QuantizedAttentionVariant): string {
  const v = variant;
  return [
    `q${v.qRowsPerScale}`,
    `k${v.kRowsPerScale}${v.smoothK ? 's' : ''}`,
    `v-${v.pv}-${v.vScale.keysPerScale}${v.vScale.perChannel ? 'c' : ''}${v.smoothV ? 's' : ''}`,
    `p${v.pCodeMax}-${v.pScale}`,
    v.exponent === 'sas' ? `sas-t${v.sasThreshold}` : 'exp2',
    v.skipSparseTiles ? 'skip' : 'dense',
    `n${v.blockN}`,
  ].join(':');
}
