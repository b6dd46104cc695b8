// Library of the @qattn/fuzz suites: the pure case generator, the runner and its checks, the soak.
export * from './bars.js';
export * from './cases.js';
export * from './check.js';
export * from './inputs.js';
export * from './report.js';
export * from './runner.js';
export { DEFAULT_SLACK, runSoak, soakTable, type SoakMetric, type SoakOptions, type SoakReport, type SoakSlack } from './soak.js';
export * from './webgpu-buffers.js';
