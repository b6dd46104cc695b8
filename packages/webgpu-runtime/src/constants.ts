/**
 * WebGPU's flag constants, by value. The spec fixes these numbers; Dawn's `webgpu` package only exposes the
 * `GPUBufferUsage`/`GPUMapMode` globals through its `globals` object, and a library must not install globals into the
 * caller's realm, so kernels use these instead.
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  INDEX: 0x0010,
  VERTEX: 0x0020,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  INDIRECT: 0x0100,
  QUERY_RESOLVE: 0x0200,
} as const;

/** `GPUMapMode` values. */
export const MapMode = {
  READ: 0x0001,
  WRITE: 0x0002,
} as const;
