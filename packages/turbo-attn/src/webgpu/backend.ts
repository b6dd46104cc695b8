import { QattnError } from '@qattn/quant-core';
import type { TurboBackend } from '../backends.js';

/** Placeholder until the FlashQ WebGPU kernel lands: rejects, so `'auto'` falls back and reports why. */
export async function createWebGpuBackend(): Promise<TurboBackend> {
  throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', '@qattn/turbo-attn: the webgpu backend is not available: the FlashQ WebGPU kernel is not implemented yet', {
    backend: 'webgpu',
  });
}
