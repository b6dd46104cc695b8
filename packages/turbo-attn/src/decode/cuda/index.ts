import { QattnError } from '@qattn/quant-core';
import type { DecodeBackend } from '../decode-backend.js';

/** Split-KV decode over a CUDA cache. */
export async function loadCudaDecodeBackend(): Promise<DecodeBackend> {
  throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', 'turboDecode: decoding a cuda cache is not implemented yet', { backend: 'cuda' });
}
