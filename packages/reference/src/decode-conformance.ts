import { attention } from './attention.js';
import { compare, type Comparison } from './compare.js';
import { generateInputs } from './generate.js';

/**
 * Cache precisions the decode suite names; each backend maps them to its cache options: `'int8'` INT8 pages, `'int4'`
 * INT4 pages, `'int4/2'` INT4 pages with some heads at INT2 (head-wise mixed precision).
 */
export type DecodeCachePrecision = 'int8' | 'int4' | 'int4/2';

/**
 * How a case's tokens enter the cache: `'prompt'` all at once; `'steps'` one token per append; `'prompt+steps'` the
 * first half at once, then one token per append, then the last `queryTokens` at once (a speculative-decoding step).
 */
export type DecodeAppendPlan = 'prompt' | 'steps' | 'prompt+steps';

/** One case of the decode conformance suite: a batch of sequences in a quantized KV cache, then one decode call. */
export interface DecodeConformanceCase {
  /** Stable name, the key of a backend's skip list. */
  name: string;
  /** Tokens of each sequence once appended (the query tokens included; 0 is an empty slot). */
  lengths: readonly number[];
  heads: number;
  kvHeads: number;
  headDim: number;
  /** New tokens per sequence, causal among themselves and bottom-right aligned with the cache. */
  queryTokens: number;
  precision: DecodeCachePrecision;
  /** Cache layout the case exercises. */
  pageSize: number;
  sinkTokens: number;
  append: DecodeAppendPlan;
  /** Softmax scale; default 1/√headDim. */
  scale?: number;
  seed: number;
}

/** What a backend receives for one case. */
export interface DecodeConformanceInput {
  testCase: DecodeConformanceCase;
  /** `[batch, heads, queryTokens, headDim]` */
  q: Float32Array;
  /** Per sequence: k and v `[kvHeads, length, headDim]`, and the sizes of the appends that feed them to the cache. */
  sequences: ReadonlyArray<{ k: Float32Array; v: Float32Array; chunks: readonly number[] }>;
}

/** What {@link defineDecodeConformanceSuite} needs of a backend. */
export interface DecodeConformanceTarget {
  /** Suite title, e.g. `'turboDecode cpu'`. */
  name: string;
  /**
   * Builds a cache of the case's precision and layout, appends each sequence's chunks in order, decodes q, and
   * returns the output `[batch, heads, queryTokens, headDim]` (and the log-sum-exp `[batch, heads, queryTokens]`, if
   * the backend returns it: it is then checked too).
   */
  run(input: DecodeConformanceInput): Promise<{ out: Float32Array; lse?: Float32Array }>;
  /** Largest relative L2 error of the output against float64 attention over the original K and V. */
  bound(testCase: DecodeConformanceCase): number;
  /** Largest absolute error of the log-sum-exp (natural log). Default 0.05. */
  lseBound?(testCase: DecodeConformanceCase): number;
  /** Cases this backend does not run, each with the reason (printed in the test name). */
  skip?: Readonly<Record<string, string>>;
  /** The test API: `describe`/`it` of vitest or of node:test. */
  test: {
    describe(name: string, body: () => void): unknown;
    it(name: string, body: () => Promise<void> | void): unknown;
  };
}

/** Result of one decode case, for reports. */
export interface DecodeConformanceResult extends Comparison {
  bound: number;
  /** Largest |lse − float64 lse| over rows that see a key (undefined when the backend returns no lse). */
  lseError?: number;
}

class DecodeConformanceFailure extends Error {
  override readonly name = 'DecodeConformanceFailure';
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

type CaseFields = Omit<DecodeConformanceCase, 'name' | 'seed'>;

const base: CaseFields = {
  lengths: [100],
  heads: 8,
  kvHeads: 2,
  headDim: 64,
  queryTokens: 1,
  precision: 'int4',
  pageSize: 16,
  sinkTokens: 4,
  append: 'prompt+steps',
};

function decodeCase(name: string, fields: Partial<CaseFields>): DecodeConformanceCase {
  return { name, ...base, ...fields, seed: hashName(name) };
}

/**
 * The decode cases every backend runs, on LLM-like data (outlier K channels, an attention sink, Student-t V): odd
 * lengths, lengths around the sink and page boundaries (pages of 16 keep them small), several sequences of different
 * lengths in one cache (an empty one, one shorter than its query tokens), GQA 1:1 to 8:1, head dims 64 and 128, 1 to 16
 * query tokens (crossing a page boundary), every append plan, each cache precision, and a 2048-token prompt at the
 * default layout (pages of 64). Small enough that all of them run in seconds on the CPU oracle.
 */
export function decodeConformanceCases(): DecodeConformanceCase[] {
  return [
    decodeCase('len1', { lengths: [1], heads: 4, kvHeads: 4 }),
    decodeCase('len7-odd', { lengths: [7] }),
    decodeCase('sinks-only', { lengths: [3], queryTokens: 2 }),
    decodeCase('sink-boundary', { lengths: [4, 5], queryTokens: 1 }),
    decodeCase('no-sinks', { lengths: [77], sinkTokens: 0 }),
    decodeCase('page-boundary', { lengths: [4 + 16 - 1, 4 + 16, 4 + 16 + 1, 4 + 32] }),
    decodeCase('len131-odd', { lengths: [131], append: 'steps' }),
    decodeCase('several-sequences', { lengths: [5, 300, 130, 68, 1], append: 'prompt' }),
    decodeCase('empty-and-short-sequences', { lengths: [0, 2, 50], queryTokens: 4 }),
    decodeCase('gqa1-hd64', { lengths: [200], heads: 4, kvHeads: 4 }),
    decodeCase('gqa2-hd128', { lengths: [150], heads: 4, kvHeads: 2, headDim: 128 }),
    decodeCase('gqa4-hd128', { lengths: [333, 97], heads: 16, kvHeads: 4, headDim: 128 }),
    decodeCase('gqa8-hd64', { lengths: [257], heads: 8, kvHeads: 1 }),
    decodeCase('gqa8-hd128', { lengths: [190], heads: 8, kvHeads: 1, headDim: 128, pageSize: 64 }),
    decodeCase('query2', { lengths: [120], queryTokens: 2 }),
    decodeCase('query4-hd128', { lengths: [90, 61], queryTokens: 4, headDim: 128 }),
    decodeCase('query16-across-pages', { lengths: [4 + 16 * 5 + 3, 40], queryTokens: 16 }),
    decodeCase('int8-several', { lengths: [3, 150, 70], precision: 'int8' }),
    decodeCase('int8-query16-hd128', { lengths: [170], queryTokens: 16, precision: 'int8', headDim: 128 }),
    decodeCase('mixed-bits', { lengths: [300, 129], kvHeads: 4, precision: 'int4/2' }),
    decodeCase('scale-explicit', { lengths: [80], scale: 0.05 }),
    decodeCase('prompt2048-hd128', { lengths: [2048], heads: 16, kvHeads: 4, headDim: 128, pageSize: 64, append: 'prompt' }),
  ];
}

/** The sizes of the appends that bring a sequence to `length` tokens under `plan`. */
export function decodeAppendChunks(length: number, queryTokens: number, plan: DecodeAppendPlan): number[] {
  if (length === 0) return [];
  if (plan === 'prompt') return [length];
  if (plan === 'steps') return Array.from({ length }, () => 1);
  const prompt = Math.floor(length / 2);
  const last = Math.min(queryTokens, length - prompt);
  const steps = length - prompt - last;
  return [prompt, ...Array.from({ length: steps }, () => 1), last].filter((n) => n > 0);
}

interface CaseData {
  input: DecodeConformanceInput;
  expected: Float64Array;
  expectedLse: Float64Array;
}

/** Float64 log-sum-exp of scale·q·k per query row, bottom-right causal (−Infinity for a row that sees no key). */
function referenceLse(q: Float32Array, k: Float32Array, heads: number, kvHeads: number, seqQ: number, seqKV: number, headDim: number, scale: number): Float64Array {
  const lse = new Float64Array(heads * seqQ).fill(-Infinity);
  const logits = new Float64Array(seqKV);
  for (let h = 0; h < heads; h++) {
    const kvHead = Math.floor(h / (heads / kvHeads));
    for (let i = 0; i < seqQ; i++) {
      const last = Math.min(seqKV - 1, i + seqKV - seqQ);
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[((h * seqQ) + i) * headDim + d] * k[((kvHead * seqKV) + j) * headDim + d];
        logits[j] = dot * scale;
        if (logits[j] > max) max = logits[j];
      }
      if (max === -Infinity) continue;
      let sum = 0;
      for (let j = 0; j <= last; j++) sum += Math.exp(logits[j] - max);
      lse[h * seqQ + i] = max + Math.log(sum);
    }
  }
  return lse;
}

function caseData(testCase: DecodeConformanceCase): CaseData {
  const { lengths, heads, kvHeads, headDim, queryTokens } = testCase;
  const scale = testCase.scale ?? 1 / Math.sqrt(headDim);
  const batch = lengths.length;
  const perSequenceQ = heads * queryTokens * headDim;
  const q = new Float32Array(batch * perSequenceQ);
  const expected = new Float64Array(batch * perSequenceQ);
  const expectedLse = new Float64Array(batch * heads * queryTokens).fill(-Infinity);
  const sequences = lengths.map((length, b) => {
    // Each sequence is its own LLM-like draw (its own sink direction and outlier channels per kv head).
    const shape = { batch: 1, heads, kvHeads, seqQ: queryTokens, seqKV: Math.max(1, length), headDim };
    const data = generateInputs(shape, { kind: 'llm', seed: testCase.seed + b });
    q.set(data.q, b * perSequenceQ);
    if (length === 0) return { k: new Float32Array(0), v: new Float32Array(0), chunks: [] };
    expected.set(attention(data.q, data.k, data.v, shape, { causal: true, scale }), b * perSequenceQ);
    expectedLse.set(referenceLse(data.q, data.k, heads, kvHeads, queryTokens, length, headDim, scale), b * heads * queryTokens);
    return { k: data.k, v: data.v, chunks: decodeAppendChunks(length, queryTokens, testCase.append) };
  });
  return { input: { testCase, q, sequences }, expected, expectedLse };
}

/**
 * Runs one decode case: a finite output of q's length, inputs unmodified, relative L2 against float64 attention over
 * the original K and V within the backend's bound, and (when returned) the log-sum-exp within its bound, −Infinity
 * exactly for rows that see no key.
 */
export async function checkDecodeConformanceCase(
  target: Pick<DecodeConformanceTarget, 'run' | 'bound' | 'lseBound'>,
  testCase: DecodeConformanceCase,
): Promise<DecodeConformanceResult> {
  const { input, expected, expectedLse } = caseData(testCase);
  const copies = [input.q, ...input.sequences.flatMap((s) => [s.k, s.v])].map((x) => x.slice());
  const result = await target.run(input);
  const { out, lse } = result;
  if (!(out instanceof Float32Array) || out.length !== input.q.length) {
    throw new DecodeConformanceFailure(`${testCase.name}: output must be a Float32Array of ${input.q.length} elements`);
  }
  [input.q, ...input.sequences.flatMap((s) => [s.k, s.v])].forEach((tensor, t) => {
    for (let i = 0; i < tensor.length; i++) {
      if (!Object.is(tensor[i], copies[t][i])) throw new DecodeConformanceFailure(`${testCase.name}: input ${t === 0 ? 'q' : `k/v of sequence ${(t - 1) >> 1}`} was modified`);
    }
  });
  const metrics = compare(out, expected);
  const bound = target.bound(testCase);
  if (!(metrics.relL2 <= bound)) {
    throw new DecodeConformanceFailure(`${testCase.name}: relative L2 ${metrics.relL2.toExponential(3)} exceeds the bound ${bound} (cos ${metrics.cos.toFixed(6)})`);
  }
  if (lse === undefined) return { ...metrics, bound };
  if (!(lse instanceof Float32Array) || lse.length !== expectedLse.length) {
    throw new DecodeConformanceFailure(`${testCase.name}: lse must be a Float32Array of ${expectedLse.length} elements`);
  }
  const lseBound = target.lseBound?.(testCase) ?? 0.05;
  let lseError = 0;
  for (let r = 0; r < lse.length; r++) {
    if (expectedLse[r] === -Infinity) {
      if (lse[r] !== -Infinity) throw new DecodeConformanceFailure(`${testCase.name}: lse[${r}] is ${lse[r]} for a row that sees no key (expected −Infinity)`);
      continue;
    }
    lseError = Math.max(lseError, Math.abs(lse[r] - expectedLse[r]));
    if (!(lseError <= lseBound)) {
      throw new DecodeConformanceFailure(`${testCase.name}: lse[${r}] = ${lse[r]} is ${Math.abs(lse[r] - expectedLse[r]).toExponential(3)} from ${expectedLse[r]} (bound ${lseBound})`);
    }
  }
  return { ...metrics, bound, lseError };
}

/**
 * Registers the decode conformance suite with the given test API: every case of {@link decodeConformanceCases}
 * against float64 attention over the original K and V. Skipped cases are registered as passing tests whose name says
 * "skipped: <reason>".
 */
export function defineDecodeConformanceSuite(target: DecodeConformanceTarget): void {
  const { describe, it } = target.test;
  describe(`decode conformance: ${target.name}`, () => {
    for (const testCase of decodeConformanceCases()) {
      const reason = target.skip?.[testCase.name];
      if (reason !== undefined) {
        it(`${testCase.name} (skipped: ${reason})`, () => {});
        continue;
      }
      it(testCase.name, async () => {
        await checkDecodeConformanceCase(target, testCase);
      });
    }
  });
}
