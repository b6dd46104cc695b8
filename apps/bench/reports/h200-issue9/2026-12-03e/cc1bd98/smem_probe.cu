#include <cstdio>
#include <cstdint>
__device__ unsigned int out[8];
__global__ void dyn_only() {
  extern __shared__ __align__(1024) unsigned char smem[];
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  smem[threadIdx.x] = 1;
}
__global__ void with_static() {
  extern __shared__ __align__(16) unsigned char smem2[];
  __shared__ int s_flag[20];
  if (threadIdx.x == 0) { s_flag[0] = 1; out[4 + blockIdx.x] = static_cast<unsigned>(__cvta_generic_to_shared(smem2)); }
  smem2[threadIdx.x] = (unsigned char)s_flag[0];
}
int main() {
  cudaFuncSetAttribute(dyn_only, cudaFuncAttributeMaxDynamicSharedMemorySize, 75000);
  cudaFuncSetAttribute(with_static, cudaFuncAttributeMaxDynamicSharedMemorySize, 75000);
  dyn_only<<<3, 128, 75000>>>();
  with_static<<<3, 128, 75000>>>();
  unsigned h[8];
  cudaError_t e = cudaMemcpyFromSymbol(h, out, sizeof h);
  printf("status %s\n", cudaGetErrorString(e));
  printf("dyn_only bases: %u %u %u\nwith_static bases: %u %u %u\n", h[0], h[1], h[2], h[4], h[5], h[6]);
  return 0;
}
