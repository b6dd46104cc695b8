/**
 * @qattn/bench: the `qattn-bench` CLI and its building blocks (sweep, overhead benchmark, schedule sweep, sanitizer
 * workload, decode over the quantized KV cache, metrics, reports), exported for tests and for scripts that want to
 * drive a run themselves.
 */
export { main, createProgram, resolveConfig, parsePositiveInt, EXIT_USAGE, EXIT_CELL_ERRORS, type CliIo, type CliOptions } from './cli.js';
export { attentionOps, visiblePairs, tops, median, shapeLabel, type CellShape } from './metrics.js';
export { PRESETS, PRESET_NAMES, ALGORITHM_IDS, BACKEND_NAMES, MODES, expandGrid, type Preset, type ShapeGrid, type Mode } from './presets.js';
export { runSweep, probeBackends, type SweepConfig, type CellResult, type CellStatus } from './sweep.js';
export { float32Attention } from './baseline.js';
export { accuracySubProblem } from './accuracy.js';
export { runPeers, peerRatios, type PeersReport } from './peers.js';
export { runOverhead, measureSubject, type OverheadReport, type OverheadRow, type OverheadSubject } from './overhead/run.js';
export { callStats, leakCheck, OVERHEAD_TARGETS, LEAK_LIMITS, type CallStats, type LeakCheck } from './overhead/stats.js';
export { runScheduleSweep, type SchedulesReport, type ScheduleTarget } from './schedules/sweep.js';
export { scheduleCandidates, SCHEDULE_SPACE, type ScheduleCandidate } from './schedules/candidates.js';
export { runSanitize, SANITIZE_CASES, type SanitizeCase, type SanitizeResult } from './sanitize.js';
export { REPORT_SCHEMA_VERSION, type BenchReport } from './report/report.js';
export { runDecodeCache, type DecodeCacheSettings } from './decode-cache/run.js';
export { planRows, accuracySlices, gbPerSecond, type DecodeCacheRow } from './decode-cache/rows.js';
export { CACHE_KINDS, CACHE_KIND_NAMES, type CacheKindName } from './decode-cache/kinds.js';
export { runDecodePeers, compareDecodePeers, type DecodePeersReport } from './decode-cache/peers.js';
export { judgeTargets, DECODE_TARGETS, type TargetCheck } from './decode-cache/targets.js';
