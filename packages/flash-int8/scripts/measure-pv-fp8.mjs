// Relative L2 of flash-int8's CPU oracle against float64 @qattn/reference for each P·V precision (int8, fp16, fp8),
// on LLM-like data (and its sharp variant, q × 3), worst over seeds: the README's "FP8 P·V" table.
// Usage: node scripts/measure-pv-fp8.mjs [seqs=1024,4096] [headDims=64,128] [heads=2] [seeds=2] [causal=false]
//        (after `pnpm exec tsup` builds dist/; takes ~2 minutes with the defaults on one core)
import { attention, compare, generateInputs } from '@qattn/reference';
import { flashInt8Attention } from '../dist/index.js';

const list = (arg, fallback) => (arg ?? fallback).split(',').map(Number);
const seqs = list(process.argv[2], '1024,4096');
const headDims = list(process.argv[3], '64,128');
const heads = Number(process.argv[4] ?? 2);
const seeds = Number(process.argv[5] ?? 2);
const causal = process.argv[6] === 'true';
const precisions = ['int8', 'fp16', 'fp8'];
const data = [
  { name: 'LLM-like', sharpness: 1 },
  { name: 'sharp (q×3)', sharpness: 3 },
];

console.log(`B1 H${heads} ${causal ? 'causal' : 'non-causal'}, worst of ${seeds} seeds, default options otherwise (blockN 64, smoothK)`);
console.log(`| N | hd | data | ${precisions.map((pv) => `pv '${pv}'`).join(' | ')} |`);
console.log(`|---|---|---|${precisions.map(() => '---').join('|')}|`);
for (const seq of seqs) {
  for (const headDim of headDims) {
    const shape = { batch: 1, heads, seqQ: seq, seqKV: seq, headDim };
    for (const { name, sharpness } of data) {
      const worst = Object.fromEntries(precisions.map((pv) => [pv, 0]));
      for (let seed = 1; seed <= seeds; seed++) {
        const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: seed * 7919, sharpness });
        const expected = attention(q, k, v, shape, { causal });
        for (const pv of precisions) {
          const out = await flashInt8Attention(q, k, v, shape, { backend: 'cpu', causal, pv });
          worst[pv] = Math.max(worst[pv], compare(out, expected).relL2);
        }
      }
      console.log(`| ${seq} | ${headDim} | ${name} | ${precisions.map((pv) => `${(100 * worst[pv]).toFixed(2)}%`).join(' | ')} |`);
    }
  }
}
