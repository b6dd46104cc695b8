// INT8 attention timings of the CUDA backend for the README table (bundled to .gpu/bench-cuda.mjs).
// Prints one JSON line per configuration: kernel-only and quantization-included TOPS = 4·B·H·N²·D / t (halved for
// causal), CUDA events, medians. Usage: node bench-cuda.mjs [out.jsonl]
import { appendFileSync } from 'node:fs';
import { resolveShape } from '@qattn/quant-core';
import { createCudaBackend, resolveFlashInt8Options } from '../src/index.js';

const out = process.argv[2];
const backend = await createCudaBackend();
const batch = 4, heads = 32;
for (const headDim of [128, 64]) {
  for (const seq of [1024, 4096, 16384]) {
    for (const causal of [false, true]) {
      for (const pv of ['int8', 'fp16'] as const) {
        if (pv === 'fp16' && (seq !== 16384 || causal)) continue;
        const shape = resolveShape({ batch, heads, seqQ: seq, seqKV: seq, headDim });
        const options = resolveFlashInt8Options({ backend: 'cuda', causal, pv });
        const repeats = seq >= 16384 ? 10 : 30;
        const r = await backend.benchmark(shape, 1 / Math.sqrt(headDim), causal, options, { warmup: 3, repeats, seed: seq });
        const ops = (4 * batch * heads * seq * seq * headDim) / (causal ? 2 : 1);
        const row = {
          impl: `qattn-int8${pv === 'fp16' ? '-pvfp16' : ''}`, headDim, seq, causal, batch, heads,
          attnMs: r.attnMs, quantMs: r.quantMs, totalMs: r.medianMs,
          topsKernel: ops / (r.attnMs * 1e-3) / 1e12, topsWithQuant: ops / (r.medianMs * 1e-3) / 1e12,
          // bytes moved by quantization at least: fp32 Q,K,V read once, int8 codes written (K/V re-read for the means)
          quantGBps: ((shape.qElements + 2 * shape.kvElements) * 4 + (shape.qElements + 2 * shape.kvElements) + shape.kvElements * 4) / (r.quantMs * 1e-3) / 1e9,
          quantOverhead: r.quantMs / r.attnMs,
          device: backend.runtime.device.name,
        };
        console.log(JSON.stringify(row));
        if (out) appendFileSync(out, JSON.stringify(row) + '\n');
      }
    }
  }
}
