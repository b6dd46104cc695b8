/**
 * The demo page: INT8 attention (flash-int8, turbo-attn) on the browser's WebGPU next to the f32/f16 WGSL
 * FlashAttention on the same adapter, each checked against float64, then a decode loop over the quantized KV cache.
 * Everything it measures is also published on `window.qattnDemo` (the browser test reads it there).
 */
import { type GpuContext, acquireGpu } from '@qattn/webgpu-runtime';
import { runAttention } from './attention-runs.js';
import { accuracyChart, decodeChart, throughputChart } from './charts.js';
import type { DemoResults, WebGpuStatus } from './demo-results.js';
import { describeError } from './describe-error.js';
import { runDecode } from './decode-loop.js';
import { renderAttention, renderDecode, renderError, renderWebGpuStatus, renderWorkload } from './view.js';
import { parseWorkload } from './workload.js';
import './style.css';

function section(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html has no #${id}`);
  return element;
}

/** Acquires the browser's WebGPU device through the runtime the kernels use, or says why there is none. */
async function probeWebGpu(): Promise<{ gpu?: GpuContext; status: WebGpuStatus }> {
  if (!('gpu' in navigator)) {
    const reason = window.isSecureContext
      ? 'This browser has no navigator.gpu (WebGPU is off or not implemented).'
      : 'navigator.gpu exists only on secure pages (https:// or localhost).';
    return { status: { available: false, reason } };
  }
  try {
    const gpu = await acquireGpu();
    const { adapter, capabilities } = gpu;
    return {
      gpu,
      status: {
        available: true,
        adapter: `${gpu.source}: ${[adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' ')}`,
        software: gpu.software,
        shaderF16: capabilities.shaderF16,
        packedDot4: capabilities.packedDot4,
        timestampQuery: capabilities.timestampQuery,
      },
    };
  } catch (err) {
    return { status: { available: false, reason: `navigator.gpu is there but gives no device: ${describeError(err)}.` } };
  }
}

/** Yields to the browser so that progress text paints between long synchronous steps (reference, CPU kernels). */
const nextFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));

async function main(): Promise<void> {
  const start = performance.now();
  const results: DemoResults = { status: 'running' };
  window.qattnDemo = results;
  const progressLine = section('progress');
  const progress = (step: string) => {
    progressLine.textContent = `Running: ${step}…`;
  };
  try {
    const workload = parseWorkload(location.search);
    results.workload = workload;
    renderWorkload(section('workload'), workload);
    progress('probing WebGPU');
    const { gpu, status } = await probeWebGpu();
    results.webgpu = status;
    renderWebGpuStatus(section('webgpu'), status);
    await nextFrame();

    results.attention = await runAttention(workload, gpu, progress);
    const canvases = renderAttention(section('attention'), results.attention);
    throughputChart(canvases.throughput, results.attention.rows);
    accuracyChart(canvases.accuracy, results.attention.rows);
    await nextFrame();

    results.decode = await runDecode(workload, gpu !== undefined, progress);
    decodeChart(renderDecode(section('decode'), results.decode), results.decode);

    results.elapsedMs = performance.now() - start;
    progressLine.textContent = `Done in ${(results.elapsedMs / 1000).toFixed(1)} s.`;
    results.status = 'done';
  } catch (err) {
    results.error = describeError(err);
    results.status = 'error';
    progressLine.textContent = '';
    renderError(section('webgpu'), results.error);
  }
}

void main();
