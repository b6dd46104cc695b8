// The README example, as a user's ESM file (cpu backend explicitly: the result must not depend on the machine).
import { flashInt8Attention } from '@qattn/flash-int8';
import { attention, compare, generateInputs } from '@qattn/reference';

const shape = { batch: 1, heads: 8, kvHeads: 2, seqQ: 128, seqKV: 128, headDim: 128 };
const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
const out = await flashInt8Attention(q, k, v, shape, { causal: true, backend: 'cpu' });
const { relL2, cos } = compare(out, attention(q, k, v, shape, { causal: true }));
console.log(`esm: relative L2 vs float64: ${(relL2 * 100).toFixed(2)}%, cosine ${cos.toFixed(5)}`);
if (!(relL2 < 0.02)) throw new Error(`esm: relative L2 ${relL2} above the 2% bar`);
