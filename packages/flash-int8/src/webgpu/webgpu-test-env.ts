import { webGpuRequired as required } from '@qattn/webgpu-runtime';

export { gpuForTests } from '@qattn/webgpu-runtime';

/** CI (CI=true) and QATTN_EXPECT_WEBGPU=1 demand an adapter (and the browser test, a Chromium). */
export const webGpuRequired = required();
