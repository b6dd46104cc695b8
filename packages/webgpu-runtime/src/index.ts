/// <reference types="@webgpu/types" />
export { acquireGpu, releaseGpu, assertAlive, SUBGROUP_MATRIX_FEATURE, subgroupMatrixRequested } from './device.js';
export type { AcquireOptions, AdapterSummary, ComputeLimits, GpuCapabilities, GpuContext, SubgroupInfo, SubgroupMatrixConfig } from './device.js';
export { withDeviceErrors } from './error-scope.js';
export { WebGpuTensor, readBuffer } from './tensor.js';
export type { GpuDType } from './tensor.js';
export { GpuTimestamps } from './timestamps.js';
export { BufferUsage, MapMode } from './constants.js';
export * from './kernels/index.js';
export { gpuForTests, webGpuRequired } from './test-support.js';
