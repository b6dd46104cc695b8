// Times the CPU backend on 1×8×1024×1024×128 (batch×heads×seqQ×seqKV×headDim), the size the README reports.
// Usage: node scripts/bench-cpu.mjs ['<json options>'] [repeats]   (after `pnpm build`)
import { generateInputs } from '@qattn/reference';
import { flashInt8Attention } from '../dist/index.js';

const shape = { batch: 1, heads: 8, seqQ: 1024, seqKV: 1024, headDim: 128 };
const options = JSON.parse(process.argv[2] ?? '{}');
const repeats = Number(process.argv[3] ?? 3);
const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
await flashInt8Attention(q, k, v, { ...shape, seqQ: 64, seqKV: 64 }.seqQ ? shape : shape, { ...options, backend: 'cpu' }); // warm-up (JIT)
const times = [];
for (let r = 0; r < repeats; r++) {
  const start = performance.now();
  await flashInt8Attention(q, k, v, shape, { ...options, backend: 'cpu' });
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const ops = 4 * shape.batch * shape.heads * shape.seqQ * shape.seqKV * shape.headDim * (options.causal ? 0.5 : 1);
console.log(`${JSON.stringify(options)}: median ${(times[times.length >> 1] / 1000).toFixed(3)} s, best ${(times[0] / 1000).toFixed(3)} s, ${(ops / (times[0] / 1000) / 1e9).toFixed(2)} GOPS`);
