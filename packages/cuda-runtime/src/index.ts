export type { Binding, NativeBuiltinLaunchers, NativeLaunch, NativeProbe, NativeSubmitJob, NativeTrace, NativeTransfer } from './binding.js';
export { loadAddon, packageRoot } from './node-loader.js';
export {
  CudaRuntime,
  type CudaDeviceInfo,
  type LaunchStep,
  type SubmitJob,
  type TransferStep,
  getCudaRuntime,
  cudaAvailability,
  CUDA_RUNTIME_ADDON_ENV,
} from './runtime.js';
export { DeviceTensor, type DeviceDType, type HostArrayOf, DTYPE_BYTES } from './tensor.js';
export * from './plan-cache.js';
export * from './capabilities.js';
export * from './attention-plan.js';
export * from './trace.js';
