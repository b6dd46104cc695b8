import { type AttentionOptions, type AttentionShape, type QattnErrorCode, isQattnError } from '@qattn/quant-core';
import { attention } from './attention.js';
import { compare, type Comparison } from './compare.js';
import { type DataKind, generateInputs } from './generate.js';

/** One accuracy case of the conformance suite. */
export interface ConformanceCase {
  /** Stable name, used as the key of a backend's skip list. */
  name: string;
  shape: AttentionShape;
  options: AttentionOptions;
  data: DataKind;
  /** q multiplier (3 = the sharp-softmax case of the accuracy bars). */
  sharpness: number;
  seed: number;
}

/** One invalid call: every backend must reject it with a QattnError of `code` and leave the inputs untouched. */
export interface BadInputCase {
  name: string;
  q: unknown;
  k: unknown;
  v: unknown;
  shape: AttentionShape;
  options: Record<string, unknown>;
  code: QattnErrorCode;
  /** Substring the error message must contain (it must name the problem). */
  mentions: string;
}

const base = { batch: 1, heads: 2, seqQ: 64, seqKV: 64, headDim: 64 };

function llm(name: string, shape: AttentionShape, options: AttentionOptions = {}, sharpness = 1): ConformanceCase {
  return { name, shape, options, data: 'llm', sharpness, seed: hashName(name) };
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * The accuracy cases every backend runs: odd lengths (1, 7, 100, 1000), head dims 32–256, GQA 1:1, 4:1 and MQA,
 * causal with seqQ < seqKV and seqQ > seqKV (rows that see no key must be zero), decoding (seqQ = 1), sharp softmax,
 * and uniform data. Sizes are kept small enough that a float64 reference of all of them runs in seconds.
 */
export function conformanceCases(): ConformanceCase[] {
  return [
    llm('len1', { ...base, seqQ: 1, seqKV: 1 }),
    llm('len7-causal', { ...base, seqQ: 7, seqKV: 7 }, { causal: true }),
    llm('len100-causal', { ...base, seqQ: 100, seqKV: 100 }, { causal: true }),
    llm('len1000', { batch: 1, heads: 1, seqQ: 1000, seqKV: 1000, headDim: 64 }),
    llm('hd32', { ...base, headDim: 32 }),
    llm('hd64-causal', { ...base, seqQ: 130, seqKV: 130 }, { causal: true }),
    llm('hd96', { ...base, headDim: 96 }),
    llm('hd128', { ...base, seqQ: 96, seqKV: 160, headDim: 128 }),
    llm('hd128-causal', { ...base, seqQ: 160, seqKV: 160, headDim: 128 }, { causal: true }),
    llm('hd256', { ...base, headDim: 256 }),
    llm('gqa4', { batch: 2, heads: 8, kvHeads: 2, seqQ: 48, seqKV: 80, headDim: 64 }),
    llm('mqa8-causal', { batch: 1, heads: 8, kvHeads: 1, seqQ: 64, seqKV: 96, headDim: 128 }, { causal: true }),
    llm('causal-seqQ<seqKV', { ...base, seqQ: 37, seqKV: 200 }, { causal: true }),
    llm('causal-seqQ>seqKV', { ...base, seqQ: 80, seqKV: 50 }, { causal: true }),
    llm('decode-causal', { batch: 2, heads: 4, kvHeads: 2, seqQ: 1, seqKV: 333, headDim: 128 }, { causal: true }),
    llm('scale-explicit', { ...base }, { scale: 0.05 }),
    llm('sharp-hd64', { ...base, seqQ: 128, seqKV: 128 }, {}, 3),
    llm('sharp-hd128-causal', { ...base, seqQ: 128, seqKV: 128, headDim: 128 }, { causal: true }, 3),
    { name: 'uniform-hd64', shape: { ...base, seqQ: 100, seqKV: 100 }, options: {}, data: 'uniform', sharpness: 1, seed: 7 },
    { name: 'uniform-hd128-causal', shape: { ...base, headDim: 128 }, options: { causal: true }, data: 'uniform', sharpness: 1, seed: 8 },
  ];
}

/** Invalid calls and the error code each must produce. */
export function badInputCases(): BadInputCase[] {
  const shape = { batch: 1, heads: 2, seqQ: 4, seqKV: 6, headDim: 32 };
  const q = () => new Float32Array(1 * 2 * 4 * 32).fill(0.5);
  const kv = () => new Float32Array(1 * 2 * 6 * 32).fill(0.25);
  const withValue = (array: Float32Array, index: number, value: number) => {
    array[index] = value;
    return array;
  };
  return [
    { name: 'q too short', q: new Float32Array(10), k: kv(), v: kv(), shape, options: {}, code: 'ERR_QATTN_SHAPE', mentions: 'q' },
    { name: 'v too long', q: q(), k: kv(), v: new Float32Array(1 * 2 * 6 * 32 + 1), shape, options: {}, code: 'ERR_QATTN_SHAPE', mentions: 'v' },
    { name: 'zero seqQ', q: new Float32Array(0), k: kv(), v: kv(), shape: { ...shape, seqQ: 0 }, options: {}, code: 'ERR_QATTN_SHAPE', mentions: 'seqQ' },
    { name: 'negative headDim', q: q(), k: kv(), v: kv(), shape: { ...shape, headDim: -32 }, options: {}, code: 'ERR_QATTN_SHAPE', mentions: 'headDim' },
    { name: 'fractional batch', q: q(), k: kv(), v: kv(), shape: { ...shape, batch: 1.5 }, options: {}, code: 'ERR_QATTN_SHAPE', mentions: 'batch' },
    { name: 'heads not a multiple of kvHeads', q: q(), k: kv(), v: kv(), shape: { ...shape, kvHeads: 3 }, options: {}, code: 'ERR_QATTN_SHAPE', mentions: 'kvHeads' },
    { name: 'q is a Float64Array', q: new Float64Array(1 * 2 * 4 * 32), k: kv(), v: kv(), shape, options: {}, code: 'ERR_QATTN_DTYPE', mentions: 'q' },
    { name: 'k is a plain array', q: q(), k: Array.from(kv()), v: kv(), shape, options: {}, code: 'ERR_QATTN_DTYPE', mentions: 'k' },
    { name: 'NaN in k', q: q(), k: withValue(kv(), 5, Number.NaN), v: kv(), shape, options: {}, code: 'ERR_QATTN_NONFINITE', mentions: 'k[5]' },
    { name: 'Infinity in v', q: q(), k: kv(), v: withValue(kv(), 17, Number.POSITIVE_INFINITY), shape, options: {}, code: 'ERR_QATTN_NONFINITE', mentions: 'v[17]' },
    { name: '-Infinity in q', q: withValue(q(), 0, Number.NEGATIVE_INFINITY), k: kv(), v: kv(), shape, options: {}, code: 'ERR_QATTN_NONFINITE', mentions: 'q[0]' },
    { name: 'unknown option', q: q(), k: kv(), v: kv(), shape, options: { causall: true }, code: 'ERR_QATTN_OPTION', mentions: 'causall' },
    { name: 'negative scale', q: q(), k: kv(), v: kv(), shape, options: { scale: -1 }, code: 'ERR_QATTN_OPTION', mentions: 'scale' },
    { name: 'causal not boolean', q: q(), k: kv(), v: kv(), shape, options: { causal: 'yes' }, code: 'ERR_QATTN_OPTION', mentions: 'causal' },
  ];
}

/** What {@link defineConformanceSuite} needs of a backend. */
export interface ConformanceTarget {
  /** Suite title, e.g. `'flash-int8 cpu'`. */
  name: string;
  /** Runs the backend. Options carry `causal`/`scale` (and, in bad-input cases, invalid values). */
  run(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape, options: Record<string, unknown>): Promise<Float32Array>;
  /** Largest relative L2 error against float64 allowed for a case (the backend's stated accuracy bar). */
  bound(testCase: ConformanceCase): number;
  /** Cases this backend does not run, each with the reason (printed in the test name). */
  skip?: Readonly<Record<string, string>>;
  /** The test API: `describe`/`it` of vitest or of node:test. The suite throws its own assertion errors. */
  test: {
    describe(name: string, body: () => void): unknown;
    it(name: string, body: () => Promise<void> | void): unknown;
  };
}

/** Result of one conformance case, for reports. */
export interface ConformanceResult extends Comparison {
  bound: number;
}

class ConformanceFailure extends Error {
  override readonly name = 'ConformanceFailure';
}

/** Runs one accuracy case: finite output of q's length, inputs unmodified, relative L2 within the bound. */
export async function checkConformanceCase(target: Pick<ConformanceTarget, 'run' | 'bound'>, testCase: ConformanceCase): Promise<ConformanceResult> {
  const { q, k, v } = generateInputs(testCase.shape, { kind: testCase.data, seed: testCase.seed, sharpness: testCase.sharpness });
  const copies = [q.slice(), k.slice(), v.slice()];
  const out = await target.run(q, k, v, testCase.shape, { ...testCase.options });
  if (!(out instanceof Float32Array) || out.length !== q.length) {
    throw new ConformanceFailure(`${testCase.name}: output must be a Float32Array of ${q.length} elements`);
  }
  [q, k, v].forEach((tensor, t) => {
    for (let i = 0; i < tensor.length; i++) {
      if (!Object.is(tensor[i], copies[t][i])) throw new ConformanceFailure(`${testCase.name}: input ${'qkv'[t]}[${i}] was modified`);
    }
  });
  const expected = attention(q, k, v, testCase.shape, testCase.options);
  const metrics = compare(out, expected);
  const bound = target.bound(testCase);
  if (!(metrics.relL2 <= bound)) {
    throw new ConformanceFailure(`${testCase.name}: relative L2 ${metrics.relL2.toExponential(3)} exceeds the bound ${bound} (cos ${metrics.cos.toFixed(6)})`);
  }
  return { ...metrics, bound };
}

/** Runs one bad-input case: must reject with a QattnError of the expected code naming the problem, inputs intact. */
export async function checkBadInputCase(target: Pick<ConformanceTarget, 'run'>, badCase: BadInputCase): Promise<void> {
  const snapshot = [badCase.q, badCase.k, badCase.v].map((t) => (ArrayBuffer.isView(t) || Array.isArray(t) ? Array.from(t as ArrayLike<number>) : t));
  let caught: unknown;
  try {
    await target.run(badCase.q as Float32Array, badCase.k as Float32Array, badCase.v as Float32Array, badCase.shape, { ...badCase.options });
  } catch (err) {
    caught = err;
  }
  if (caught === undefined) throw new ConformanceFailure(`${badCase.name}: expected ${badCase.code}, but the call succeeded`);
  if (!isQattnError(caught, badCase.code)) {
    throw new ConformanceFailure(`${badCase.name}: expected QattnError ${badCase.code}, got ${(caught as Error)?.name}: ${(caught as Error)?.message}`);
  }
  if (!caught.message.includes(badCase.mentions)) {
    throw new ConformanceFailure(`${badCase.name}: message "${caught.message}" does not name '${badCase.mentions}'`);
  }
  [badCase.q, badCase.k, badCase.v].forEach((t, i) => {
    if (ArrayBuffer.isView(t) || Array.isArray(t)) {
      const now = Array.from(t as ArrayLike<number>);
      const before = snapshot[i] as number[];
      if (now.some((x, j) => !Object.is(x, before[j]))) throw new ConformanceFailure(`${badCase.name}: input ${'qkv'[i]} was modified`);
    }
  });
}

/**
 * Registers the whole conformance suite (accuracy cases and bad inputs) with the given test API. Skipped cases are
 * registered as passing tests whose name says "skipped: <reason>", so a skip is always visible in the output.
 */
export function defineConformanceSuite(target: ConformanceTarget): void {
  const { describe, it } = target.test;
  describe(`conformance: ${target.name}`, () => {
    for (const testCase of conformanceCases()) {
      const reason = target.skip?.[testCase.name];
      if (reason !== undefined) {
        it(`${testCase.name} (skipped: ${reason})`, () => {});
        continue;
      }
      it(testCase.name, async () => {
        await checkConformanceCase(target, testCase);
      });
    }
    for (const badCase of badInputCases()) {
      it(`rejects ${badCase.name} with ${badCase.code}`, async () => {
        await checkBadInputCase(target, badCase);
      });
    }
  });
}
