export { type Binding, type NativeProbe, loadAddon, packageRoot } from './binding.js';
export { CudaRuntime, type CudaDeviceInfo, getCudaRuntime, cudaAvailability, CUDA_RUNTIME_ADDON_ENV } from './runtime.js';
export { DeviceTensor, type DeviceDType, type HostArrayOf, DTYPE_BYTES } from './tensor.js';
