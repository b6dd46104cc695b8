// Accuracy and size of the quantized KV cache against fp16, per share of 2-bit heads: the README's table.
//
//   pnpm --filter @qattn/kv-cache... build && node packages/kv-cache/scripts/measure.mjs
//
// LLM-like K and V from @qattn/reference (8 kv heads, headDim 128, 1024 tokens); "attention" is the float64 reference
// attention of 32 query heads (GQA 4:1, the last 64 positions, causal) on the dequantized cache against the original.
import { attention, compare, generateInputs } from '@qattn/reference';
import { QuantizedKVCache } from '../dist/index.js';

const shape = { batch: 1, heads: 32, kvHeads: 8, seqQ: 64, seqKV: 1024, headDim: 128 };
const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 3 });
const exact = attention(q, k, v, shape, { causal: true });
const pct = (x) => `${(100 * x).toFixed(1)}%`;
console.log('| lowBitFraction | K rel. L2 | V rel. L2 | attention rel. L2 | vs fp16 |');
console.log('| --- | --- | --- | --- | --- |');
for (const lowBitFraction of [0, 0.25, 0.5, 0.75, 1]) {
  const cache = new QuantizedKVCache({ batch: 1, kvHeads: 8, headDim: 128 }, { lowBitFraction });
  cache.append(k, v, shape.seqKV);
  const read = cache.read();
  const out = attention(q, read.k, read.v, shape, { causal: true });
  const { compressionRatio } = cache.memory();
  console.log(
    `| ${lowBitFraction} | ${pct(compare(read.k, k).relL2)} | ${pct(compare(read.v, v).relL2)} | ${pct(compare(out, exact).relL2)} | ${compressionRatio.toFixed(2)}× |`,
  );
}
