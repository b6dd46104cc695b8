export * from './errors.js';
export * from './shape.js';
export * from './options.js';
export * from './backend-registry.js';
export * from './quantize.js';
export * from './pack.js';
export * from './smoothing.js';
