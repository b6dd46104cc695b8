import type { InputTensors } from './algorithms.js';
import type { InputSource } from './inputs.js';
import type { CellShape } from './metrics.js';
import type { ApiShape, ReferencePackage } from './packages.js';

/**
 * The sub-problem accuracy is measured on. The float64 reference is a plain JavaScript loop, so the full paper shapes
 * (4×32×16K×16K) are out of reach; instead each cell's algorithm is run a second time, on the same backend, on:
 * batch 1, the first `heads` query heads (with the kv heads they read), the LAST `seqQ` query rows and every key.
 * Taking the last rows keeps bottom-right causal masking identical to the full problem's last rows.
 */
export interface AccuracySubProblem {
  batch: 1;
  heads: number;
  kvHeads: number;
  seqQ: number;
  seqKV: number;
  headDim: number;
  causal: boolean;
  /** One line for the table legend and the JSON. */
  description: string;
}

/** Accuracy of one cell against `@qattn/reference`. */
export interface Accuracy {
  cos: number;
  relL2: number;
  maxAbs: number;
  rmse: number;
}

/** Float64 multiply-adds the reference may spend on one sub-problem (≈ 1–2 s of JavaScript on a loaded 2-core machine). */
export const REFERENCE_OPS_BUDGET = 1e9;

/**
 * Chooses the sub-problem of a cell: MHA keeps 2 heads; GQA keeps one kv head and up to 4 of the query heads that
 * share it; the query rows are `maxRows` at most, fewer when the reference work would exceed the budget.
 */
export function accuracySubProblem(shape: CellShape, maxRows: number, opsBudget = REFERENCE_OPS_BUDGET): AccuracySubProblem {
  const groupSize = shape.heads / shape.kvHeads;
  const kvHeads = groupSize === 1 ? Math.min(shape.kvHeads, 2) : 1;
  const heads = groupSize === 1 ? kvHeads : Math.min(groupSize, 4);
  const rowsInBudget = Math.floor(opsBudget / (4 * heads * shape.seqKV * shape.headDim));
  const seqQ = Math.max(1, Math.min(shape.seqQ, maxRows, Math.max(16, rowsInBudget)));
  const rows = seqQ === shape.seqQ ? `all ${seqQ} query rows` : `last ${seqQ} of ${shape.seqQ} query rows`;
  const headText = kvHeads === heads ? `heads 0-${heads - 1}` : `query heads 0-${heads - 1} on kv head 0`;
  return {
    batch: 1,
    heads,
    kvHeads,
    seqQ,
    seqKV: shape.seqKV,
    headDim: shape.headDim,
    causal: shape.causal,
    description: `batch 1 of ${shape.batch}, ${headText}, ${rows}, all ${shape.seqKV} keys`,
  };
}

/** The inputs and float64 reference output of a sub-problem, computed once and shared by every algorithm/backend. */
export interface ReferenceCase {
  sub: AccuracySubProblem;
  shape: ApiShape;
  inputs: InputTensors;
  expected: Float64Array;
}

/** Builds (and caches by sub-problem) the reference cases of a sweep. */
export function createReferenceCache(reference: ReferencePackage, source: InputSource, seed: number) {
  const cache = new Map<string, ReferenceCase>();
  return {
    /** Throws when the reference package does not export `attention`/`compare` (the cell then reports why). */
    get(sub: AccuracySubProblem): ReferenceCase {
      const attention = reference.attention;
      if (!attention || !reference.compare) {
        throw new Error(reference.loadError ?? '@qattn/reference exports no attention/compare');
      }
      const key = JSON.stringify(sub);
      let hit = cache.get(key);
      if (!hit) {
        const shape: ApiShape = { batch: 1, heads: sub.heads, kvHeads: sub.kvHeads, seqQ: sub.seqQ, seqKV: sub.seqKV, headDim: sub.headDim };
        // A distinct seed from the timing inputs: the sub-problem is its own draw of the same distribution.
        const inputs = source.generate(shape, seed + 7919);
        hit = { sub, shape, inputs, expected: attention(inputs.q, inputs.k, inputs.v, shape, { causal: sub.causal }) };
        cache.set(key, hit);
      }
      return hit;
    },
    compare(actual: ArrayLike<number>, expected: ArrayLike<number>): Accuracy {
      const { cos, relL2, maxAbs, rmse } = reference.compare!(actual, expected);
      return { cos, relL2, maxAbs, rmse };
    },
    clear(): void {
      cache.clear();
    },
  };
}
