/// <reference types="@webgpu/types" />
export { acquireGpu, releaseGpu, assertAlive } from './device.js';
export type { AcquireOptions, AdapterSummary, ComputeLimits, GpuCapabilities, GpuContext } from './device.js';
export { withDeviceErrors } from './error-scope.js';
export { WebGpuTensor, readBuffer } from './tensor.js';
export type { GpuDType } from './tensor.js';
export { GpuTimestamps } from './timestamps.js';
export { BufferUsage, MapMode } from './constants.js';
export * from './kernels/index.js';
export { gpuForTests, webGpuRequired } from './test-support.js';
