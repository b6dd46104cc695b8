import { type KVCache, createKVCache } from '@qattn/kv-cache';
import { isQattnError } from '@qattn/quant-core';
import { attentionRows, compare, generateInputs } from '@qattn/reference';
import { turboDecode } from '@qattn/turbo-attn';
import { ACCURACY_BOUNDS } from './bounds.js';
import type { DecodeReport } from './demo-results.js';
import { describeError } from './describe-error.js';
import type { Workload } from './workload.js';

type CacheBackend = DecodeReport['cacheBackend'];

/** One sequence: the prompt's K/V and, for each decode step, its token's q, k and v. */
interface DecodeData {
  shape: { batch: 1; heads: number; kvHeads: number; seqQ: number; seqKV: number; headDim: number };
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  prompt: { k: Float32Array; v: Float32Array };
  steps: Array<{ q: Float32Array; k: Float32Array; v: Float32Array }>;
}

/** Tokens [from, to) of every head of `x` `[heads, seq, headDim]` as `[heads, to − from, headDim]`. */
function tokenRange(x: Float32Array, heads: number, seq: number, headDim: number, from: number, to: number): Float32Array {
  const out = new Float32Array(heads * (to - from) * headDim);
  for (let h = 0; h < heads; h++) out.set(x.subarray((h * seq + from) * headDim, (h * seq + to) * headDim), h * (to - from) * headDim);
  return out;
}

/**
 * Generates the whole sequence at once, prompt and new tokens, so that the LLM-like structure (the sink at key 0,
 * the outlier channels of each kv head) spans both. q holds only the new tokens' queries: with seqQ = steps and
 * bottom-right causal alignment, query i of this shape sees exactly the keys the cache holds at step i.
 */
function decodeData(workload: Workload): DecodeData {
  const { heads, kvHeads, headDim, seqKV: promptTokens } = workload.shape;
  const steps = workload.decodeSteps;
  const seqKV = promptTokens + steps;
  const shape = { batch: 1 as const, heads, kvHeads, seqQ: steps, seqKV, headDim };
  const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 2 });
  return {
    shape,
    q,
    k,
    v,
    prompt: { k: tokenRange(k, kvHeads, seqKV, headDim, 0, promptTokens), v: tokenRange(v, kvHeads, seqKV, headDim, 0, promptTokens) },
    steps: Array.from({ length: steps }, (_, i) => ({
      q: tokenRange(q, heads, steps, headDim, i, i + 1),
      k: tokenRange(k, kvHeads, seqKV, headDim, promptTokens + i, promptTokens + i + 1),
      v: tokenRange(v, kvHeads, seqKV, headDim, promptTokens + i, promptTokens + i + 1),
    })),
  };
}

interface LoopResult {
  cache: KVCache;
  promptAppendMs: number;
  stepMs: number[];
  outputs: Float32Array[];
}

/** Prompt into a new cache on `backend`, then one append + turboDecode per step, each step timed on the wall clock. */
async function decodeOn(backend: CacheBackend, workload: Workload, data: DecodeData, progress: (step: string) => void): Promise<LoopResult> {
  const { kvHeads, headDim } = workload.shape;
  const cache = await createKVCache({ batch: 1, kvHeads, headDim, backend });
  try {
    progress(`decode (${backend} cache): appending the ${workload.shape.seqKV}-token prompt`);
    const promptStart = performance.now();
    await cache.append(data.prompt.k, data.prompt.v);
    const promptAppendMs = performance.now() - promptStart;
    const stepMs: number[] = [];
    const outputs: Float32Array[] = [];
    for (const [i, step] of data.steps.entries()) {
      if (i % 8 === 0) progress(`decode (${backend} cache): step ${i + 1} of ${data.steps.length}`);
      const start = performance.now();
      await cache.append(step.k, step.v);
      outputs.push(await turboDecode(step.q, cache));
      stepMs.push(performance.now() - start);
    }
    return { cache, promptAppendMs, stepMs, outputs };
  } catch (err) {
    cache.dispose();
    throw err;
  }
}

/**
 * The decode loop over TurboAttention's quantized KV cache: the workload's prompt is appended to a cache (INT4 pages,
 * INT8 buffer, float32 sinks: the defaults), then `decodeSteps` tokens are decoded one by one. The cache lives on
 * WebGPU where `turboDecode` can read a WebGPU cache, else on the CPU, and the report says why.
 */
export async function runDecode(workload: Workload, webgpu: boolean, progress: (step: string) => void): Promise<DecodeReport> {
  const data = decodeData(workload);
  let backend: CacheBackend = 'cpu';
  let fallbackReason = webgpu ? undefined : 'no WebGPU here';
  let loop: LoopResult | undefined;
  if (webgpu) {
    try {
      loop = await decodeOn('webgpu', workload, data, progress);
      backend = 'webgpu';
    } catch (err) {
      // Only "cannot decode a WebGPU cache here" falls back; anything else is a bug the page must show.
      if (!isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE') && !isQattnError(err, 'ERR_QATTN_UNSUPPORTED')) throw err;
      fallbackReason = describeError(err);
    }
  }
  loop ??= await decodeOn('cpu', workload, data, progress);
  const { cache, promptAppendMs, stepMs, outputs } = loop;
  try {
    progress('decode: float64 reference');
    const { heads, headDim, seqQ: steps } = data.shape;
    // Every step's output [heads, 1, headDim] into one [heads, steps, headDim], the layout of the float64 rows.
    const decoded = new Float32Array(heads * steps * headDim);
    outputs.forEach((out, i) => {
      for (let h = 0; h < heads; h++) decoded.set(out.subarray(h * headDim, (h + 1) * headDim), (h * steps + i) * headDim);
    });
    const exact = attentionRows(data.q, data.k, data.v, data.shape, true, Array.from({ length: steps }, (_, i) => i));
    const { relL2 } = compare(decoded, exact);
    const timed = stepMs.length > 1 ? stepMs.slice(1) : stepMs;
    return {
      cacheBackend: backend,
      fallbackReason,
      promptTokens: workload.shape.seqKV,
      steps: stepMs.length,
      promptAppendMs,
      stepMs,
      tokensPerSecond: (1000 * timed.length) / timed.reduce((sum, ms) => sum + ms, 0),
      relL2,
      bound: ACCURACY_BOUNDS.decodeInt4,
      memory: cache.memory(),
    };
  } finally {
    cache.dispose();
  }
}
