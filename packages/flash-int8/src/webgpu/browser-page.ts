/**
 * The page script of browser.test.ts: runs flash-int8 on the browser's WebGPU (navigator.gpu) and, for comparison, on
 * the CPU backend and the float64 reference, then publishes the metrics on `window.qattnResults`. A second phase
 * re-acquires the device asking for the subgroup-matrix feature and runs a call with the kernel opted in, publishing
 * what the adapter offers, the path the backend reports, and the same metrics.
 */
import { resolveShape, validateAttentionInputs } from '@qattn/quant-core';
import { attention, compare, generateInputs } from '@qattn/reference';
import { acquireGpu, releaseGpu, SUBGROUP_MATRIX_FEATURE } from '@qattn/webgpu-runtime';
import { createWebGpuBackend, type FlashInt8Options, flashInt8Attention, resolveFlashInt8Options } from '../index.js';

interface CaseResult {
  name: string;
  relL2: number;
  oracleRelL2: number;
}

/** The subgroup-matrix phase: what the adapter offers, what the device got, and the call's path and accuracy. */
export interface SubgroupMatrixResult {
  /** `chromium-experimental-*` features the adapter lists. */
  adapterExperimentalFeatures: string[];
  /** `adapter.info.subgroupMatrixConfigs` as the adapter reports it (undefined where the browser has no such field). */
  adapterConfigs: Array<{ componentType: string; resultComponentType: string; M: number; N: number; K: number }> | undefined;
  /** The feature on the device `acquireGpu({ subgroupMatrix: true })` returned. */
  deviceSubgroupMatrix: boolean;
  subgroups: boolean;
  subgroupSizes: [number, number];
  packedDot4: boolean;
  path: string;
  pathNote: string | undefined;
  relL2: number;
  oracleRelL2: number;
}

declare global {
  interface Window {
    qattnResults?: { adapter: string; packedDot4: boolean; cases: CaseResult[]; subgroupMatrix: SubgroupMatrixResult } | { error: string };
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
    const adapter = `${gpu.source}: ${gpu.adapter.vendor} ${gpu.adapter.architecture} ${gpu.adapter.description}`.trim();
    const packedDot4 = gpu.capabilities.packedDot4;
    window.qattnResults = { adapter, packedDot4, cases: results, subgroupMatrix: await runSubgroupMatrixCase() };
  } catch (err) {
    window.qattnResults = { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

/**
 * The subgroup-matrix fallback: the shared device is decided by the call that acquires it, so release the first one and
 * acquire again asking for `chromium-experimental-subgroup-matrix`, then run a call on a backend with the kernel opted
 * in. Where the adapter has no fitting matrix configuration (SwiftShader), the call must take the dot4 kernel, say why,
 * and still compute the right result.
 */
async function runSubgroupMatrixCase(): Promise<SubgroupMatrixResult> {
  const probe = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = probe?.info as (GPUAdapterInfo & { subgroupMatrixConfigs?: SubgroupMatrixResult['adapterConfigs'] }) | undefined;
  const adapterExperimentalFeatures = [...(probe?.features ?? [])].filter((feature) => feature.startsWith('chromium-experimental-')).sort();
  // Plain copies: the browser's config objects keep their fields in prototype getters, which page.evaluate drops.
  const adapterConfigs = info?.subgroupMatrixConfigs?.map(({ componentType, resultComponentType, M, N, K }) => ({ componentType, resultComponentType, M, N, K }));

  await releaseGpu();
  const gpu = await acquireGpu({ subgroupMatrix: true });
  const backend = await createWebGpuBackend({ subgroupMatrix: true });
  // pv 'int8', exp2 and the default blockN: the variant the kernel implements, so only the device can rule it out.
  const shape = { batch: 2, heads: 2, seqQ: 64, seqKV: 64, headDim: 64 };
  const options = resolveFlashInt8Options({ causal: true }, shape.headDim);
  const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 5 });
  const inputs = validateAttentionInputs(q, k, v, shape, { causal: options.causal, scale: options.scale });
  const call = { q, k, v, shape: inputs.shape, scale: inputs.scale, causal: inputs.causal, options, maxAbs: inputs.maxAbs };
  const { path, pathNote } = await backend.path({ shape: resolveShape(shape), scale: inputs.scale, causal: inputs.causal, options });
  const out = await backend.run(call);
  const oracle = await flashInt8Attention(q, k, v, shape, { causal: true, backend: 'cpu' });
  const expected = attention(q, k, v, shape, { causal: true });
  return {
    adapterExperimentalFeatures,
    adapterConfigs,
    deviceSubgroupMatrix: gpu.device.features.has(SUBGROUP_MATRIX_FEATURE),
    subgroups: gpu.capabilities.subgroups,
    subgroupSizes: [gpu.subgroupInfo.minSize, gpu.subgroupInfo.maxSize],
    packedDot4: gpu.capabilities.packedDot4,
    path,
    pathNote,
    relL2: compare(out, expected).relL2,
    oracleRelL2: compare(out, oracle).relL2,
  };
}

void run();
