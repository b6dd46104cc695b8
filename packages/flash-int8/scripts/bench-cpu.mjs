// Times the CPU backend on 1×8×1024×1024×128 (batch×heads×seqQ×seqKV×headDim), the size the README reports.
// Usage: node scripts/bench-cpu.mjs ['<json options>'] [repeats]   (after `pnpm build`)
import { generateInputs } from '@qattn/reference';
import { flashInt8Attention } from '../dist/index.js';

const shape = { batch: 1, heads: 8, seqQ: 1024, seqKV: 1024, headDim: 128 };
const options = { ...JSON.parse(process.argv[2] ?? '{}'), backend: 'cpu' };
const repeats = Number(process.argv[3] ?? 3);
const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });

// Warm-up on one head, so the timed runs measure optimized code rather than V8's tiers.
const warmShape = { ...shape, heads: 1 };
await flashInt8Attention(q.subarray(0, q.length / 8), k.subarray(0, k.length / 8), v.subarray(0, v.length / 8), warmShape, options);

const seconds = [];
for (let r = 0; r < repeats; r++) {
  const start = performance.now();
  await flashInt8Attention(q, k, v, shape, options);
  seconds.push((performance.now() - start) / 1000);
}
seconds.sort((a, b) => a - b);
// 4·B·H·Sq·Skv·D operations (two GEMMs, multiply and add), halved by a causal mask.
const ops = 4 * shape.batch * shape.heads * shape.seqQ * shape.seqKV * shape.headDim * (options.causal ? 0.5 : 1);
console.log(
  `${JSON.stringify(options)}: median ${seconds[seconds.length >> 1].toFixed(2)} s, best ${seconds[0].toFixed(2)} s ` +
    `(${(ops / seconds[0] / 1e9).toFixed(2)} GOPS)`,
);
