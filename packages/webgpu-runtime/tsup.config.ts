import { qattnTsup } from '@qattn/tooling/tsup';

// WGSL kernels are inlined as strings, so the built package needs no file access (Node ESM/CJS and browsers alike).
export default qattnTsup({ loader: { '.wgsl': 'text' } });
