// Small-shape workload for compute-sanitizer (memcheck, racecheck): every kernel and variant once, odd lengths so
// that tails and padding are exercised. Exits non-zero on any thrown error.
import { generateInputs } from '@qattn/reference';
import { flashInt8Attention, type FlashInt8Options } from '../src/index.js';

const cases: Array<[{ batch: number; heads: number; kvHeads: number; seqQ: number; seqKV: number; headDim: number }, FlashInt8Options]> = [
  [{ batch: 1, heads: 2, kvHeads: 1, seqQ: 77, seqKV: 150, headDim: 128 }, { causal: true }],
  [{ batch: 1, heads: 2, kvHeads: 2, seqQ: 130, seqKV: 65, headDim: 64 }, { causal: false, smoothV: true, pScale: 'global' }],
  [{ batch: 1, heads: 2, kvHeads: 1, seqQ: 100, seqKV: 100, headDim: 128 }, { causal: true, pv: 'fp16' }],
  [{ batch: 1, heads: 1, kvHeads: 1, seqQ: 33, seqKV: 70, headDim: 256 }, { causal: false }],
  [{ batch: 1, heads: 2, kvHeads: 2, seqQ: 90, seqKV: 161, headDim: 128 }, { causal: true, blockN: 32 }],
  [{ batch: 1, heads: 2, kvHeads: 1, seqQ: 66, seqKV: 97, headDim: 64 }, { causal: true, pCodeMax: 127 }],
];
for (const [shape, options] of cases) {
  const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
  const out = await flashInt8Attention(q, k, v, shape, { ...options, backend: 'cuda' });
  console.log(`sanitize ${JSON.stringify(shape)} ${JSON.stringify(options)}: ${out.length} outputs, finite=${out.every(Number.isFinite)}`);
}
