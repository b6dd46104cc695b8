// What a web page imports: bundled by esbuild for platform=browser, it must contain no Node built-in.
import { flashInt8Attention } from '@qattn/flash-int8';
import { turboAttention } from '@qattn/turbo-attn';
import { generateInputs } from '@qattn/reference';

const shape = { batch: 1, heads: 2, kvHeads: 1, seqQ: 64, seqKV: 64, headDim: 64 };
const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
globalThis.qattnDemo = () => Promise.all([
  flashInt8Attention(q, k, v, shape, { backend: 'webgpu' }),
  turboAttention(q, k, v, shape, { backend: 'webgpu' }),
]);
