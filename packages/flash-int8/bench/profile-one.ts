// One attention call for Nsight Compute (`ncu --kernel-name regex:attn_fwd --launch-count 1 node profile-one.mjs`).
// Shape from argv: headDim seq [pv] [blockN]; B=1, H=32 keeps the profiled launch short.
import { resolveShape } from '@qattn/quant-core';
import { createCudaBackend, resolveFlashInt8Options } from '../src/index.js';

const [headDim = 128, seq = 4096] = process.argv.slice(2, 4).map(Number);
const pv = (process.argv[4] ?? 'int8') as 'int8' | 'fp16';
const blockN = Number(process.argv[5] ?? 32);
const backend = await createCudaBackend();
const shape = resolveShape({ batch: 1, heads: 32, seqQ: seq, seqKV: seq, headDim });
const r = await backend.benchmark(shape, 1 / Math.sqrt(headDim), false, resolveFlashInt8Options({ backend: 'cuda', pv, blockN }), { warmup: 0, repeats: 1 });
console.log(`profiled hd${headDim} N=${seq} pv ${pv} blockN ${blockN}: attn ${r.attnMs.toFixed(3)} ms`);
