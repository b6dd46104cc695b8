import { QattnError, assertFinite, assertFloat32Array } from '@qattn/quant-core';

/**
 * A partial attention result over some of the keys: the normalized output of each query row and the log-sum-exp of
 * its logits (natural log of Σ_j exp(scale · q·k_j) over the keys it saw; −Infinity for a row that saw none, whose
 * output is 0). Two states over disjoint key sets merge into the state over their union
 * ({@link mergeAttentionStates}) — the building block of split-KV decoding, chunked prefill and ring attention.
 */
export interface AttentionState {
  /** `[rows, headDim]` (any leading dimensions folded into rows, e.g. `[batch, heads, queryTokens, headDim]`). */
  out: Float32Array;
  /** `[rows]` */
  lse: Float32Array;
}

/**
 * Merges rows [row, row + rows) of `source` into the same rows of `target`, in place (the combine step of split-KV):
 *
 *   lse = log(e^lse_a + e^lse_b),   out = out_a · e^(lse_a − lse) + out_b · e^(lse_b − lse)
 *
 * computed around max(lse_a, lse_b) so nothing overflows; a row empty on both sides stays (0, −Infinity).
 */
export function mergeStateRows(
  targetOut: Float32Array,
  targetLse: Float32Array,
  sourceOut: Float32Array,
  sourceLse: Float32Array,
  row: number,
  rows: number,
  headDim: number,
): void {
  for (let r = row; r < row + rows; r++) {
    const a = targetLse[r];
    const b = sourceLse[r];
    const max = a > b ? a : b;
    if (max === -Infinity) continue;
    const weightA = Math.exp(a - max);
    const weightB = Math.exp(b - max);
    const sum = weightA + weightB;
    const scaleA = weightA / sum;
    const scaleB = weightB / sum;
    for (let d = r * headDim; d < (r + 1) * headDim; d++) targetOut[d] = targetOut[d] * scaleA + sourceOut[d] * scaleB;
    targetLse[r] = max + Math.log(sum);
  }
}

function checkState(name: string, state: AttentionState): void {
  if (typeof state !== 'object' || state === null) {
    throw new QattnError('ERR_QATTN_DTYPE', `mergeAttentionStates: ${name} must be an object { out, lse }`, { tensor: name });
  }
  assertFloat32Array(`${name}.out`, state.out);
  assertFloat32Array(`${name}.lse`, state.lse);
  assertFinite(`${name}.out`, state.out);
  for (let r = 0; r < state.lse.length; r++) {
    const lse = state.lse[r];
    // −Infinity is a row that saw no key; anything else must be finite.
    if (lse !== -Infinity && lse - lse !== 0) {
      throw new QattnError('ERR_QATTN_NONFINITE', `${name}.lse[${r}] is ${lse}: a log-sum-exp is finite, or −Infinity for a row without keys`, {
        tensor: `${name}.lse`,
        index: r,
      });
    }
  }
}

/**
 * Merges two attention states over disjoint sets of keys into the state over all of them (FlashInfer's `merge_state`).
 * Exact up to float32 rounding: splitting the keys in two, attending to each half and merging gives attention over
 * all keys. Returns new arrays; the inputs are not modified.
 *
 * Throws `ERR_QATTN_DTYPE` (not Float32Arrays), `ERR_QATTN_SHAPE` (a and b differ, or out is not `[rows, headDim]`
 * with rows = lse.length), `ERR_QATTN_NONFINITE` (NaN/±Infinity in out, NaN/+Infinity in lse).
 *
 * @example
 * const left = await turboDecode(q, cacheOfFirstHalf, { returnLse: true });
 * const right = await turboDecode(q, cacheOfSecondHalf, { returnLse: true });
 * const { out, lse } = mergeAttentionStates(left, right); // attention over both halves
 */
export function mergeAttentionStates(a: AttentionState, b: AttentionState): AttentionState {
  checkState('a', a);
  checkState('b', b);
  const rows = a.lse.length;
  if (b.lse.length !== rows || b.out.length !== a.out.length) {
    throw new QattnError('ERR_QATTN_SHAPE', `mergeAttentionStates: a has ${rows} rows and ${a.out.length} outputs, b ${b.lse.length} and ${b.out.length}`, {
      rows,
    });
  }
  if (rows === 0 || a.out.length % rows !== 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `mergeAttentionStates: out has ${a.out.length} elements, not [rows, headDim] for ${rows} rows (lse)`, { rows });
  }
  const headDim = a.out.length / rows;
  const out = a.out.slice();
  const lse = a.lse.slice();
  mergeStateRows(out, lse, b.out, b.lse, 0, rows, headDim);
  return { out, lse };
}
