import { QattnError } from '../errors.js';
import { SAS_MAX_THRESHOLD } from '../sas.js';

/**
 * What distinguishes one quantized-attention algorithm from another inside the tile loop (docs/KERNELS.md's variant
 * table), as plain data: a kernel package validates its options once and maps them to this record, and
 * {@link attnFwdQuantizedCpu} only reads it. Nothing here names a paper.
 *
 * | field             | INT-FlashAttention (`@qattn/flash-int8`) | FlashQ + SAS (`@qattn/turbo-attn`) |
 * |-------------------|------------------------------------------|------------------------------------|
 * | `exponent`        | `'exp2'`                                 | `'sas'` (`'exp2'` with `sas: false`) |
 * | `skipSparseTiles` | false                                    | true with `'sas'`                  |
 * | `pScale`          | option (`'rowmax'` default)              | option (`'rowmax'` default)        |
 * | `pCodeMax`        | option (255 default)                     | 127                                |
 * | `pv`              | option (`'int8'` default; `'fp8'` CPU only) | `'int8'`                        |
 *
 * @qattn/cuda-runtime's kernel flags carry this record, so it holds only what GPU kernels implement;
 * {@link CpuAttentionVariant} widens `pv` with what only the CPU tile loop implements so far (`'fp8'`), so the type
 * checker keeps it away from the GPU kernel layer.
 */
export interface AttentionVariant {
  /**
   * The base-2 exponent of the online softmax. `'exp2'`: exact, rounded to fp32. `'sas'`: TurboAttention's sparse
   * approximation `sasExp2` (2^−n · an fp16 cubic), exactly 0 for a score more than `sasThreshold` below the running
   * row max.
   */
  readonly exponent: 'exp2' | 'sas';
  /** SAS threshold T (base 2), in [0, SAS_MAX_THRESHOLD]; read only when `exponent` is `'sas'`. */
  readonly sasThreshold: number;
  /**
   * Skip the softmax and P·V work of a key tile whose every visible score lies more than T below its row's running
   * max. Exact under SAS (such a tile's P is all 0); a switch of its own so tests can show it changes only the stats.
   * Has no effect with `'exp2'` (no score is ever dropped).
   */
  readonly skipSparseTiles: boolean;
  /**
   * What the largest P code stands for: `'rowmax'`, the row's largest P within the key tile (tiles far below the
   * running max keep full resolution), or `'global'`, 1 (INT-FlashAttention's fixed scale: P ≤ 1 after max
   * subtraction). Read by `pv: 'int8'` only.
   */
  readonly pScale: 'rowmax' | 'global';
  /** Largest INT8 P code: 127 (signed int8 codes in [0, 127]) or 255 (unsigned codes: P ≥ 0). `pv: 'int8'` only. */
  readonly pCodeMax: 127 | 255;
  /** P·V precision: INT8 P̂ and V̂ with INT32 accumulation, or P and V rounded to fp16 with fp32 accumulation. */
  readonly pv: 'int8' | 'fp16';
}

/** Every P·V precision of the CPU tile loop: {@link AttentionVariant}'s, plus `'fp8'` (e4m3 P and V, fp32 sums). */
export type PvPrecision = AttentionVariant['pv'] | 'fp8';

/**
 * The variant record {@link attnFwdQuantizedCpu} reads: an {@link AttentionVariant} whose `pv` may also be `'fp8'`,
 * the CPU oracle of an FP8 P·V that no GPU kernel implements yet (quant-core's `createPvFp8Stage` defines its
 * arithmetic).
 */
export interface CpuAttentionVariant extends Omit<AttentionVariant, 'pv'> {
  /** P·V precision; `'fp8'`: e4m3 P (448·P) and per-channel-scaled e4m3 V, fp32 accumulation. */
  readonly pv: PvPrecision;
}

/** Tile sizes and the attention options of one call of {@link attnFwdQuantizedCpu}. */
export interface AttentionTileParams {
  /** Softmax scale σ (the caller has applied the default 1/√headDim). */
  scale: number;
  /** Bottom-right aligned causal mask: query i sees keys j ≤ i + seqKV − seqQ. */
  causal: boolean;
  /** Queries per tile. */
  blockM: number;
  /** Keys per tile; also the key block of V's INT8 scales and of P's `'rowmax'` scale. */
  blockN: number;
}

/**
 * What the tile loop visited and skipped. Counts are of (query tile × key tile) pairs, summed over batch and heads.
 */
export interface TileStats {
  /** Every (query tile, key tile) pair of the call. */
  tiles: number;
  /** Pairs entirely above the causal diagonal: never loaded. */
  skippedCausal: number;
  /** Pairs whose P is all 0 under SAS (`skipSparseTiles`): Q·Kᵀ computed, softmax and P·V skipped. */
  skippedSparse: number;
}

/** Throws `ERR_QATTN_OPTION` when `variant` is not a valid {@link CpuAttentionVariant} (checked once per call). */
export function checkAttentionVariant<Variant extends CpuAttentionVariant>(variant: Variant): Variant {
  const fail = (field: keyof CpuAttentionVariant, expected: string): never => {
    throw new QattnError('ERR_QATTN_OPTION', `attention variant: ${field} must be ${expected}, got ${String(variant?.[field])}`, {
      option: field,
      value: variant?.[field],
    });
  };
  if (variant?.exponent !== 'exp2' && variant?.exponent !== 'sas') fail('exponent', "'exp2' or 'sas'");
  const threshold = variant.sasThreshold;
  if (variant.exponent === 'sas' && !(typeof threshold === 'number' && threshold >= 0 && threshold <= SAS_MAX_THRESHOLD)) {
    fail('sasThreshold', `a number in [0, ${SAS_MAX_THRESHOLD}]`);
  }
  if (typeof variant.skipSparseTiles !== 'boolean') fail('skipSparseTiles', 'a boolean');
  if (variant.pScale !== 'rowmax' && variant.pScale !== 'global') fail('pScale', "'rowmax' or 'global'");
  if (variant.pCodeMax !== 127 && variant.pCodeMax !== 255) fail('pCodeMax', '127 or 255');
  if (variant.pv !== 'int8' && variant.pv !== 'fp16' && variant.pv !== 'fp8') fail('pv', "'int8', 'fp16' or 'fp8'");
  return variant;
}
