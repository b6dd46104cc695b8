/**
 * The page script of browser.test.ts: runs flash-int8 on the browser's WebGPU (navigator.gpu) and, for comparison, on
 * the CPU backend and the float64 reference, then publishes the metrics on `window.qattnResults`.
 */
import { attention, compare, generateInputs } from '@qattn/reference';
import { acquireGpu } from '@qattn/webgpu-runtime';
import { type FlashInt8Options, flashInt8Attention } from '../index.js';

interface CaseResult {
  name: string;
  relL2: number;
  oracleRelL2: number;
}

declare global {
  interface Window {
    qattnResults?: { adapter: string; packedDot4: boolean; cases: CaseResult[] } | { error: string };
  }
}

const cases: Array<{ name: string; shape: { batch: number; heads: number; kvHeads?: number; seqQ: number; seqKV: number; headDim: number }; options: FlashInt8Options }> = [
  { name: 'gqa-causal-hd64', shape: { batch: 1, heads: 4, kvHeads: 2, seqQ: 37, seqKV: 70, headDim: 64 }, options: { causal: true } },
  { name: 'hd128-pv-fp16', shape: { batch: 1, heads: 2, seqQ: 48, seqKV: 48, headDim: 128 }, options: { pv: 'fp16' } },
  { name: 'decode-hd32', shape: { batch: 2, heads: 2, seqQ: 1, seqKV: 33, headDim: 32 }, options: { causal: true } },
];

async function run(): Promise<void> {
  try {
    const gpu = await acquireGpu();
    const results: CaseResult[] = [];
    for (const { name, shape, options } of cases) {
      const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 3 });
      const out = await flashInt8Attention(q, k, v, shape, { ...options, backend: 'webgpu' });
      const oracle = await flashInt8Attention(q, k, v, shape, { ...options, backend: 'cpu' });
      const expected = attention(q, k, v, shape, { causal: options.causal });
      results.push({ name, relL2: compare(out, expected).relL2, oracleRelL2: compare(out, oracle).relL2 });
    }
    window.qattnResults = {
      adapter: `${gpu.source}: ${gpu.adapter.vendor} ${gpu.adapter.architecture} ${gpu.adapter.description}`.trim(),
      packedDot4: gpu.capabilities.packedDot4,
      cases: results,
    };
  } catch (err) {
    window.qattnResults = { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

void run();
