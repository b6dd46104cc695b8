// Measures relative L2 of option variants against the float64 reference on the LLM-like and uniform generators.
// Usage: node scripts/measure-accuracy.mjs '<json array of option overrides>'   (after `pnpm build`)
import { attention, compare, generateInputs } from '@qattn/reference';
import { flashInt8Attention } from '../dist/index.js';

const cases = [
  { name: 'hd64', shape: { batch: 1, heads: 4, seqQ: 256, seqKV: 256, headDim: 64 }, options: {}, sharpness: 1 },
  { name: 'hd128-causal', shape: { batch: 1, heads: 4, seqQ: 256, seqKV: 256, headDim: 128 }, options: { causal: true }, sharpness: 1 },
  { name: 'gqa4-hd128', shape: { batch: 1, heads: 8, kvHeads: 2, seqQ: 128, seqKV: 384, headDim: 128 }, options: {}, sharpness: 1 },
  { name: 'gqa-causal-q<kv-hd64', shape: { batch: 2, heads: 4, kvHeads: 2, seqQ: 100, seqKV: 300, headDim: 64 }, options: { causal: true }, sharpness: 1 },
  { name: 'long-hd128', shape: { batch: 1, heads: 2, seqQ: 1024, seqKV: 1024, headDim: 128 }, options: { causal: true }, sharpness: 1 },
  { name: 'sharp-hd64', shape: { batch: 1, heads: 4, seqQ: 256, seqKV: 256, headDim: 64 }, options: {}, sharpness: 3 },
  { name: 'sharp-hd128-causal', shape: { batch: 1, heads: 4, seqQ: 256, seqKV: 256, headDim: 128 }, options: { causal: true }, sharpness: 3 },
  { name: 'uniform-hd128', shape: { batch: 1, heads: 4, seqQ: 256, seqKV: 256, headDim: 128 }, options: {}, sharpness: 1, data: 'uniform' },
];

const variants = JSON.parse(process.argv[2] ?? '[{}]');
const seeds = Number(process.argv[3] ?? 2);
const prepared = cases.map((c) => {
  const runs = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const inputs = generateInputs(c.shape, { kind: c.data ?? 'llm', seed: seed * 7919, sharpness: c.sharpness });
    runs.push({ inputs, expected: attention(inputs.q, inputs.k, inputs.v, c.shape, c.options) });
  }
  return { ...c, runs };
});
console.log(['variant', ...cases.map((c) => c.name)].join('\t'));
for (const variant of variants) {
  const row = [JSON.stringify(variant)];
  for (const c of prepared) {
    let worst = 0;
    for (const { inputs, expected } of c.runs) {
      const out = await flashInt8Attention(inputs.q, inputs.k, inputs.v, c.shape, { ...c.options, backend: 'cpu', ...variant });
      worst = Math.max(worst, compare(out, expected).relL2);
    }
    row.push((100 * worst).toFixed(2) + '%');
  }
  console.log(row.join('\t'));
}
