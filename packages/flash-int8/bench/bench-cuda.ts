// INT8 attention timings of the CUDA backend for the README table (bundled to .gpu/bench-cuda.mjs).
// Prints one JSON line per configuration: kernel-only and quantization-included TOPS = 4·B·H·N²·D / t (halved for
// causal), CUDA events, medians. Usage: node bench-cuda.mjs [out.jsonl]
import { appendFileSync } from 'node:fs';
import { resolveShape } from '@qattn/quant-core';
import { createCudaBackend, resolveFlashInt8Options } from '../src/index.js';

const out = process.argv[2];
const backend = await createCudaBackend();
const batch = 4, heads = 32;

// QATTN_TILE_SWEEP=1 with a QATTN_TILE_EXPERIMENTS build: time each tile_config.h alternative at N=16K instead.
if (process.env.QATTN_TILE_SWEEP === '1') {
  for (const variant of [0, 3, 5]) {
    process.env.QATTN_TILE_VARIANT = String(variant);
    for (const [headDim, pv, blockN] of [[128, 'int8', 64], [64, 'int8', 64]] as const) {
      const seq = 16384;
      const shape = resolveShape({ batch, heads, seqQ: seq, seqKV: seq, headDim });
      const options = resolveFlashInt8Options({ backend: 'cuda', pv, blockN });
      const r = await backend.benchmark(shape, 1 / Math.sqrt(headDim), false, options, { warmup: 2, repeats: 5, seed: 1 });
      const tops = (4 * batch * heads * seq * seq * headDim) / (r.attnMs * 1e-3) / 1e12;
      console.log(`tile variant ${variant} hd${headDim} pv ${pv} blockN ${blockN}: ${r.attnMs.toFixed(2)} ms, ${tops.toFixed(0)} TOPS`);
    }
  }
  process.exit(0);
}
// QATTN_BENCH_PREFIX=<label>: kernel-only TOPS of the defaults (blockN 64) at N 4K/16K under impl name
// "<label>-int8-blockN64" (used to time a previous build's addon in the same run as the current one).
const prefix = process.env.QATTN_BENCH_PREFIX;
if (prefix) {
  for (const headDim of [128, 64]) {
    for (const seq of [4096, 16384]) {
      for (const causal of [false, true]) {
        for (const blockN of [64]) {
          const shape = resolveShape({ batch, heads, seqQ: seq, seqKV: seq, headDim });
          const options = resolveFlashInt8Options({ backend: 'cuda', causal, blockN });
          const r = await backend.benchmark(shape, 1 / Math.sqrt(headDim), causal, options, { warmup: 3, repeats: seq >= 16384 ? 10 : 30, seed: seq });
          const ops = (4 * batch * heads * seq * seq * headDim) / (causal ? 2 : 1);
          const row = { impl: `${prefix}-int8-blockN${blockN}`, headDim, seq, causal, batch, heads, blockN, attnMs: r.attnMs, topsKernel: ops / (r.attnMs * 1e-3) / 1e12 };
          console.log(JSON.stringify(row));
          if (out) appendFileSync(out, JSON.stringify(row) + '\n');
        }
      }
    }
  }
  process.exit(0);
}
for (const headDim of [128, 64]) {
  for (const seq of [1024, 4096, 16384]) {
    for (const causal of [false, true]) {
      for (const variant of ['default', 'blockN32', 'pvfp16', 'pcode127'] as const) {
        if (variant !== 'default' && (seq !== 16384 || causal)) continue;
        const shape = resolveShape({ batch, heads, seqQ: seq, seqKV: seq, headDim });
        const pv = variant === 'pvfp16' ? 'fp16' : 'int8';
        const variantOptions = variant === 'blockN32' ? { blockN: 32 } : variant === 'pcode127' ? { pCodeMax: 127 as const } : {};
        const options = resolveFlashInt8Options({ backend: 'cuda', causal, pv, ...variantOptions }, headDim);
        const repeats = seq >= 16384 ? 10 : 30;
        const r = await backend.benchmark(shape, 1 / Math.sqrt(headDim), causal, options, { warmup: 3, repeats, seed: seq });
        const ops = (4 * batch * heads * seq * seq * headDim) / (causal ? 2 : 1);
        const row = {
          impl: variant === 'default' ? 'qattn-int8' : `qattn-int8-${variant}`, headDim, seq, causal, batch, heads, blockN: options.blockN,
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
