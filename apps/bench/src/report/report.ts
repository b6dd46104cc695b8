import type { DecodeCacheReport } from '../decode-cache/report.js';
import type { MachineInfo } from '../machine.js';
import type { OverheadReport } from '../overhead/run.js';
import type { OrtWebReport } from '../ort-web/peer.js';
import type { PeersReport } from '../peers.js';
import type { AlgorithmId, BackendName, DataKind, Mode, PresetName } from '../presets.js';
import type { SanitizeResult } from '../sanitize.js';
import type { SchedulesReport } from '../schedules/sweep.js';
import type { BackendReport, CellResult } from '../sweep.js';

/** Version of the JSON layout below; bumped on any incompatible change of schema/bench-report.schema.json. */
export const REPORT_SCHEMA_VERSION = 1;

/** Everything one run measured, as written by `--json` (schema: schema/bench-report.schema.json). */
export interface BenchReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  tool: { name: '@qattn/bench'; version: string };
  /** The command line, as typed (argv after the node binary and script). */
  command: string[];
  startedAt: string;
  finishedAt: string;
  durationS: number;
  machine: MachineInfo;
  versions: { node: string; packages: Record<string, string> };
  git: { commit: string; dirty?: boolean };
  config: {
    preset: PresetName;
    /** What ran: the algorithm × backend × shape sweep, the overhead benchmark, the schedule sweep or the sanitizer workload. */
    mode: Mode;
    algorithms: AlgorithmId[];
    backends: BackendName[] | 'auto';
    sweptBackends: BackendName[];
    warmup: number;
    /** `--warmup-ms`: least wall time of each GPU timing's warm-up (0: `warmup` calls only). Absent in older reports. */
    warmupMs?: number;
    repeats: number;
    seed: number;
    data: DataKind;
    /** Where the inputs really came from (`reference:llm`, or the bench's fallback). */
    inputs: string;
    accuracy: { enabled: boolean; maxRows: number; method: string };
    cpuMaxGop: number;
    opsFormula: string;
    /** `--options`: added to every kernel algorithm's calls. */
    options?: Record<string, unknown>;
    /** `overhead`: sequential calls per entry. */
    calls?: number;
    /** `schedules`: the `--candidates` prefixes. */
    candidates?: string[];
  };
  backends: BackendReport[];
  /** The sweep's cells (empty in the other modes). */
  cells: CellResult[];
  peers?: PeersReport;
  /** `--peers` with the webgpu backend swept: onnxruntime-web's WebGPU attention on the same adapter. */
  ortWeb?: OrtWebReport;
  /** `--preset overhead`. */
  overhead?: OverheadReport;
  /** `--preset schedules`. */
  schedules?: SchedulesReport;
  /** `--preset sanitize`. */
  sanitize?: { results: SanitizeResult[] };
  /** `--preset decode-cache` (and `decode-cache-smoke`). */
  decodeCache?: DecodeCacheReport;
}

/** How accuracy is measured, for the JSON and the table legend. */
export const ACCURACY_METHOD =
  'each algorithm is run again on the same backend on a sub-problem (batch 1, first heads, last query rows, all keys; ' +
  'see cells[].accuracy.subProblem) and compared with @qattn/reference float64 attention on the same inputs';

export const OPS_FORMULA = '4 * batch * heads * visiblePairs * headDim; visiblePairs = seqQ*seqKV, causal (bottom-right): unmasked pairs only';
