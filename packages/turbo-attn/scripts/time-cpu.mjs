// Times the cpu backend on 1×8×1024×1024×128 (LLM-like data), the size the README reports.
//
//   pnpm --filter @qattn/turbo-attn... build && node packages/turbo-attn/scripts/time-cpu.mjs [repeats]
import { generateInputs } from '@qattn/reference';
import { turboAttentionWithStats } from '../dist/index.js';

const shape = { batch: 1, heads: 8, seqQ: 1024, seqKV: 1024, headDim: 128 };
const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
const repeats = Number(process.argv[2] ?? 3);
for (const options of [{ causal: false }, { causal: true }, { causal: false, sas: false }]) {
  let best = Infinity;
  let stats;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    ({ stats } = await turboAttentionWithStats(q, k, v, shape, options));
    best = Math.min(best, performance.now() - start);
  }
  const flops = 4 * shape.batch * shape.heads * shape.seqQ * shape.seqKV * shape.headDim * (options.causal ? 0.5 : 1);
  console.log(`${JSON.stringify(options)}: best of ${repeats} ${best.toFixed(0)} ms (${(flops / best / 1e6).toFixed(2)} GOPS), tiles ${JSON.stringify(stats)}`);
}
