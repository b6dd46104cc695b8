// The README example through require(): the CJS builds of every package.
const { flashInt8Attention } = require('@qattn/flash-int8');
const { turboAttention } = require('@qattn/turbo-attn');
const { attention, compare, generateInputs } = require('@qattn/reference');

(async () => {
  const shape = { batch: 1, heads: 8, kvHeads: 2, seqQ: 128, seqKV: 128, headDim: 128 };
  const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
  const exact = attention(q, k, v, shape, { causal: true });
  for (const [name, run, bar] of [['flash-int8', flashInt8Attention, 0.02], ['turbo-attn', turboAttention, 0.03]]) {
    const { relL2 } = compare(await run(q, k, v, shape, { causal: true, backend: 'cpu' }), exact);
    console.log(`cjs: ${name} relative L2 vs float64: ${(relL2 * 100).toFixed(2)}%`);
    if (!(relL2 < bar)) throw new Error(`cjs: ${name} relative L2 ${relL2} above ${bar}`);
  }
})().catch((err) => { console.error(err); process.exit(1); });
