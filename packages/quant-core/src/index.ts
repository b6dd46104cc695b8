export * from './errors.js';
export * from './shape.js';
export * from './options.js';
export * from './backend-registry.js';
