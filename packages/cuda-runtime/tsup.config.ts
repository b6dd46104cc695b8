import { qattnTsup } from '@qattn/tooling/tsup';

// shims: import.meta.url in the CJS build, which locates build/Release/*.node.
export default qattnTsup({ shims: true });
