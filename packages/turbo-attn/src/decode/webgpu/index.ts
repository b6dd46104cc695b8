import { QattnError } from '@qattn/quant-core';
import type { DecodeBackend } from '../decode-backend.js';

/** Split-KV decode over a WebGPU cache. */
export async function loadWebGpuDecodeBackend(): Promise<DecodeBackend> {
  throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', 'turboDecode: decoding a webgpu cache is not implemented yet', { backend: 'webgpu' });
}
