/**
 * @qattn/bench: the `qattn-bench` CLI and its building blocks (sweep, metrics, reports), exported for tests and for
 * scripts that want to drive a sweep themselves.
 */
export { main, createProgram, resolveConfig, parsePositiveInt, EXIT_USAGE, EXIT_CELL_ERRORS, type CliIo, type CliOptions } from './cli.js';
export { attentionOps, visiblePairs, tops, median, shapeLabel, type CellShape } from './metrics.js';
export { PRESETS, PRESET_NAMES, ALGORITHM_IDS, BACKEND_NAMES, expandGrid, type Preset, type ShapeGrid } from './presets.js';
export { runSweep, probeBackends, type SweepConfig, type CellResult, type CellStatus } from './sweep.js';
export { float32Attention } from './baseline.js';
export { accuracySubProblem } from './accuracy.js';
export { runPeers, peerRatios, type PeersReport } from './peers.js';
export { REPORT_SCHEMA_VERSION, type BenchReport } from './report/report.js';
