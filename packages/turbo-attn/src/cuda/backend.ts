import { QattnError } from '@qattn/quant-core';
import type { TurboBackend } from '../backends.js';

/** Placeholder until the FlashQ CUDA kernel lands: rejects, so `'auto'` falls back and reports why. */
export async function createCudaBackend(): Promise<TurboBackend> {
  throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', '@qattn/turbo-attn: the cuda backend is not available: the FlashQ CUDA kernel is not implemented yet', {
    backend: 'cuda',
  });
}
