// Measures the accuracy of turbo-attn option variants against the float64 reference: the numbers behind the defaults
// documented in src/options.ts and the README.
//
//   pnpm --filter @qattn/turbo-attn... build
//   node packages/turbo-attn/scripts/measure-accuracy.mjs '[{}, {"blockN": 32}, {"vGranularity": "block"}]' [seeds]
//
// Each argument element is an options record (merged over the defaults). Prints, per variant, the relative L2 range
// (min–max over shapes and seeds) on LLM-like data, sharp LLM-like data (q × 3) and U[0,1), plus SAS-skipped tiles.
import { attention, compare, generateInputs } from '@qattn/reference';
import { turboAttentionWithStats } from '../dist/index.js';

const SHAPES = [
  { name: 'hd64', shape: { batch: 1, heads: 8, seqQ: 512, seqKV: 512, headDim: 64 }, causal: false },
  { name: 'hd64-causal', shape: { batch: 1, heads: 8, seqQ: 512, seqKV: 512, headDim: 64 }, causal: true },
  { name: 'hd128-sq<skv', shape: { batch: 1, heads: 8, seqQ: 256, seqKV: 512, headDim: 128 }, causal: false },
  { name: 'hd128-causal', shape: { batch: 1, heads: 8, seqQ: 512, seqKV: 512, headDim: 128 }, causal: true },
  { name: 'gqa4-causal', shape: { batch: 1, heads: 8, kvHeads: 2, seqQ: 200, seqKV: 456, headDim: 128 }, causal: true },
  { name: 'gqa4-sq>skv', shape: { batch: 2, heads: 8, kvHeads: 2, seqQ: 300, seqKV: 260, headDim: 64 }, causal: false },
];
const DATA = [
  { name: 'llm', kind: 'llm', sharpness: 1 },
  { name: 'sharp', kind: 'llm', sharpness: 3 },
  { name: 'uniform', kind: 'uniform', sharpness: 1 },
];

const variants = JSON.parse(process.argv[2] ?? '[{}]');
const seeds = Number(process.argv[3] ?? 1);
const pct = (x) => `${(100 * x).toFixed(2)}%`;
for (const variant of variants) {
  const line = [];
  let tiles = 0;
  let skipped = 0;
  for (const data of DATA) {
    let lo = Infinity;
    let hi = 0;
    for (const { shape, causal } of SHAPES) {
      for (let seed = 1; seed <= seeds; seed++) {
        const { q, k, v } = generateInputs(shape, { kind: data.kind, seed, sharpness: data.sharpness });
        const { out, stats } = await turboAttentionWithStats(q, k, v, shape, { ...variant, causal });
        const { relL2 } = compare(out, attention(q, k, v, shape, { causal }));
        lo = Math.min(lo, relL2);
        hi = Math.max(hi, relL2);
        tiles += stats.tiles - stats.skippedCausal;
        skipped += stats.skippedSparse;
      }
    }
    line.push(`${data.name} ${pct(lo)}–${pct(hi)}`);
  }
  console.log(`${JSON.stringify(variant)}: ${line.join(', ')}, SAS-skipped tiles ${pct(skipped / tiles)}`);
}
