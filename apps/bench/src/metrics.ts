/**
 * Work and throughput of one attention call. TOPS counts 4·D operations per visible (query, key) pair: 2·D for the
 * q·k dot product and 2·D for the p·v accumulation, the convention of the FlashAttention papers and of
 * docs/ALGORITHMS.md §0, so numbers are comparable with the peers quoted in its §3.
 */
import type { AttentionShape } from '@qattn/quant-core';

/** The shape of one benchmark cell: every dimension resolved, plus the mask. */
export interface CellShape extends Required<AttentionShape> {
  causal: boolean;
}

/**
 * Number of (query, key) pairs that the mask leaves visible in one (batch, head) slice.
 * Causal masking is bottom-right aligned: query i sees keys j ≤ i + seqKV − seqQ, so row i sees
 * max(0, i + seqKV − seqQ + 1) keys (never more than seqKV because i ≤ seqQ − 1).
 * - seqKV ≥ seqQ: every row sees at least one key; the sum is seqQ·(seqKV − seqQ + 1) + seqQ·(seqQ − 1)/2.
 * - seqKV < seqQ: the first seqQ − seqKV rows see nothing, the rest see 1…seqKV keys: seqKV·(seqKV + 1)/2.
 */
export function visiblePairs(seqQ: number, seqKV: number, causal: boolean): number {
  if (!causal) return seqQ * seqKV;
  if (seqKV >= seqQ) return seqQ * (seqKV - seqQ + 1) + (seqQ * (seqQ - 1)) / 2;
  return (seqKV * (seqKV + 1)) / 2;
}

/** Operations of one call: 4 · batch · heads · visiblePairs · headDim (GQA shares k/v but not the work). */
export function attentionOps(shape: CellShape): number {
  return 4 * shape.batch * shape.heads * visiblePairs(shape.seqQ, shape.seqKV, shape.causal) * shape.headDim;
}

/** Tera-operations per second for `ops` operations done in `ms` milliseconds. */
export function tops(ops: number, ms: number): number {
  return ops / (ms * 1e-3) / 1e12;
}

/** Median of a non-empty sample (mean of the two middle values for an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('median of an empty sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Bytes of q, k, v and the output in float32, the host memory a cell needs before any backend copy. */
export function float32TensorBytes(shape: CellShape): number {
  const qElements = shape.batch * shape.heads * shape.seqQ * shape.headDim;
  const kvElements = shape.batch * shape.kvHeads * shape.seqKV * shape.headDim;
  return 4 * (2 * qElements + 2 * kvElements);
}

/** A compact label: `B1 H8/2 Sq512 Skv512 D64 causal`. */
export function shapeLabel(shape: CellShape): string {
  const heads = shape.kvHeads === shape.heads ? `H${shape.heads}` : `H${shape.heads}/${shape.kvHeads}`;
  const seq = shape.seqQ === shape.seqKV ? `N${shape.seqKV}` : `Sq${shape.seqQ} Skv${shape.seqKV}`;
  return `B${shape.batch} ${heads} ${seq} D${shape.headDim}${shape.causal ? ' causal' : ''}`;
}
