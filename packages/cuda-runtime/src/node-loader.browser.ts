// The browser build of node-loader.ts: CUDA addons exist only in Node, so loading one reports the backend as
// unavailable (the backend registry then falls back to WebGPU or the CPU) instead of breaking the bundle.
import { QattnError } from '@qattn/quant-core';

function unavailable(): never {
  throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', 'CUDA runs only in Node.js: this is a browser build of @qattn/cuda-runtime');
}

/** Browser build: there is no package directory to find. Throws `ERR_QATTN_BACKEND_UNAVAILABLE`. */
export function packageRoot(_moduleUrl: string): string {
  return unavailable();
}

/** Browser build: there are no native addons. Throws `ERR_QATTN_BACKEND_UNAVAILABLE`. */
export function loadAddon<T>(_packageDir: string, _fileName: string, _packageName: string, _envOverride: string): T {
  return unavailable();
}
