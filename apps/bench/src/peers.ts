import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gbPerSecond } from './decode-cache/rows.js';
import { attentionOps, type CellShape, tops } from './metrics.js';
import type { BackendName } from './presets.js';
import { COPY_PEER_TRAFFIC, quantBandwidthOf, quantTraffic } from './quant-traffic.js';
import type { CellError, CellResult } from './sweep.js';

/** The PyTorch SDPA configurations timed as peers. */
export const PEER_NAMES = ['sdpa-flash-fp16', 'sdpa-cudnn-bf16', 'sdpa-math-fp32'] as const;
export type PeerName = (typeof PEER_NAMES)[number];
/**
 * A device-to-device copy (torch `dst.copy_(src)`, uint8) per shape that moves as many bytes, read plus write, as the
 * quantization phase of the shape (quant-traffic.ts, `COPY_PEER_TRAFFIC`): the bandwidth a one-pass quantization can
 * approach, measured in the same run.
 */
export const COPY_PEER = 'copy-quant';
export type CopyPeerName = typeof COPY_PEER;

/** What every cell of peers/sdpa_peers.py reports, whatever its mode (prefill sweep, decode-cache). */
export interface PeerTiming<P extends string> {
  peer: P;
  shape: CellShape;
  status: 'ok' | 'error' | 'skipped';
  dtype?: string;
  /** `events` (CUDA events) on the GPU; `host` only in the script's CPU smoke test. */
  timer?: string;
  medianMs?: number;
  minMs?: number;
  samplesMs?: number[];
  peakDeviceBytes?: number;
  /** Against float64 torch math on a slice of the same (normal) inputs. */
  accuracy?: { relL2: number; cos: number };
  error?: CellError;
}

/** One peer measurement of the prefill sweep. */
export interface PeerCell extends PeerTiming<PeerName | CopyPeerName> {
  /** The SDPA peers: attention operations / medianMs. */
  tops?: number;
  /** The copy: bytes it moves through device memory, read plus write (2 × the source's bytes). */
  bytesMoved?: number;
  /** The copy: bytesMoved / medianMs, in GB/s (10⁹ bytes per second). */
  gbps?: number;
}

/** A cell's quantization bandwidth against the copy of its shape, same run. */
export interface QuantCopyRatio {
  algorithm: string;
  backend: BackendName;
  shape: CellShape;
  quantMs: number;
  /** Minimum bytes the quantization reads and writes (quant-traffic.ts). */
  quantBytes: number;
  quantGbps: number;
  copyMs: number;
  copyBytes: number;
  copyGbps: number;
  /** quantGbps / copyGbps: 1 is a quantization as fast as a copy of its bytes. */
  ofCopy: number;
}

/** qattn time against a peer's on the same shape: `speedup` > 1 means qattn is faster. */
export interface PeerRatio {
  algorithm: string;
  backend: BackendName;
  peer: PeerName;
  shape: CellShape;
  /** The whole call, quantization included. */
  qattnMs: number;
  peerMs: number;
  /** qattn TOPS / peer TOPS = peerMs / qattnMs (whole call). */
  speedup: number;
  /** The attention kernel alone on pre-quantized inputs (`attnMs`), when the backend reports it. */
  qattnKernelMs?: number;
  /** peerMs / qattnKernelMs: the kernel against the peer's kernel (the peers take fp16/bf16 inputs as they are). */
  kernelSpeedup?: number;
}

/** The peers section of a report. `unavailable`: no python, no torch or no CUDA; the reason says which. */
export interface PeersReport {
  status: 'ok' | 'unavailable' | 'error';
  reason?: string;
  python: string;
  pythonVersion?: string;
  torch?: string;
  cudaRuntime?: string;
  device?: string;
  cells: PeerCell[];
  ratios: PeerRatio[];
  /** Per CUDA cell with a quantMs and a copy of its shape: quantization GB/s against the copy's. */
  quantCopy?: QuantCopyRatio[];
}

export interface PeerRunOptions {
  /** Python interpreter; default `$QATTN_PYTHON` or `python3`. */
  python?: string;
  warmup: number;
  /** Least wall time of each cell's warm-up after the `warmup` calls, in ms (0 or absent: count only). */
  warmupMs?: number;
  repeats: number;
  seed: number;
  accuracyRows: number;
  onProgress?: (done: number, total: number, label: string) => void;
}

/** Path of the peers script: beside the package (`peers/`), or `$QATTN_PEERS_SCRIPT`. */
export function peersScriptPath(): string {
  if (process.env.QATTN_PEERS_SCRIPT) return process.env.QATTN_PEERS_SCRIPT; // tests, or a relocated bundle
  // dist/index.js → ../peers/; also works from src/ under vitest.
  return fileURLToPath(new URL('../peers/sdpa_peers.py', import.meta.url));
}

/** A cell as the script writes it: the shape by its index in the request. */
type ScriptCell = Omit<PeerCell, 'shape' | 'tops' | 'gbps'> & { shapeIndex: number };

/** What the peers script answered, or why it did not (a missing interpreter, a crash, output that is not JSON). */
export type PeersScriptResult<Cell> =
  | { ok: true; python: string; output: { status: 'ok' | 'unavailable'; reason?: string; python?: string; torch?: string; cudaRuntime?: string; device?: string; cells: Cell[] } & Record<string, unknown> }
  | { ok: false; python: string; status: 'unavailable' | 'error'; reason: string };

/**
 * Runs peers/sdpa_peers.py with `input` on its stdin (the script's request: mode, shapes, warmup, …) and parses the
 * last line of its stdout. Progress lines on stderr go to `onProgress`. Never throws.
 */
export async function runPeersScript<Cell>(
  input: Record<string, unknown>,
  options: { python?: string; onProgress?: (done: number, total: number, label: string) => void },
): Promise<PeersScriptResult<Cell>> {
  const python = options.python || process.env.QATTN_PYTHON || 'python3';
  const script = peersScriptPath();
  if (!existsSync(script)) return { ok: false, python, status: 'error', reason: `peers script not found at ${script}` };
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string; spawnError?: Error }>((resolve) => {
    let stdout = '';
    let stderr = '';
    let lineBuffer = '';
    const child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.on('error', (spawnError) => resolve({ code: null, stdout, stderr, spawnError }));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      lineBuffer += chunk;
      const lines = lineBuffer.split('\n');
      lineBuffer = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^progress (\d+) (\d+) (.*)$/.exec(line);
        if (match) options.onProgress?.(Number(match[1]), Number(match[2]), match[3]);
        else stderr += `${line}\n`;
      }
    });
    child.on('close', (code) => resolve({ code, stdout, stderr: stderr + lineBuffer }));
    child.stdin.on('error', () => undefined); // the interpreter may exit before reading (e.g. a broken python)
    child.stdin.end(JSON.stringify(input));
  });
  if (result.spawnError) {
    const code = (result.spawnError as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? `${python} not found (set --python or QATTN_PYTHON)` : `cannot start ${python}: ${result.spawnError.message}`;
    return { ok: false, python, status: 'unavailable', reason };
  }
  try {
    const output = JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as Extract<PeersScriptResult<Cell>, { ok: true }>['output'];
    if (!Array.isArray(output?.cells)) throw new Error('no cells');
    return { ok: true, python, output };
  } catch {
    const tail = result.stderr.trim().split('\n').slice(-3).join(' | ');
    return { ok: false, python, status: 'error', reason: `peers script exited with ${result.code} without a JSON result${tail ? `: ${tail}` : ''}` };
  }
}

/**
 * Runs PyTorch SDPA and the quantization-sized copy (`COPY_PEER`) on the sweep's shapes in a child python process.
 * Never throws: a missing interpreter, a missing torch, no CUDA, a crash or unparsable output all become
 * `status: 'unavailable' | 'error'` with the reason.
 */
export async function runPeers(shapes: CellShape[], options: PeerRunOptions): Promise<PeersReport> {
  // Per shape, the bytes the copy moves (read plus write): the quantization's traffic, rounded to whole read/write pairs.
  const copyBytes = shapes.map((shape) => 2 * Math.ceil(quantTraffic(shape, COPY_PEER_TRAFFIC).totalBytes / 2));
  const input = { shapes, copyBytes, warmup: options.warmup, warmupMs: options.warmupMs ?? 0, repeats: options.repeats, seed: options.seed, accuracyRows: options.accuracyRows };
  const answer = await runPeersScript<ScriptCell>(input, options);
  const base = { python: answer.python, cells: [] as PeerCell[], ratios: [] as PeerRatio[] };
  if (!answer.ok) return { ...base, status: answer.status, reason: answer.reason };
  const parsed = answer.output;
  const cells: PeerCell[] = parsed.cells.map(({ shapeIndex, ...cell }) => {
    const shape = shapes[shapeIndex];
    if (cell.status !== 'ok' || !cell.medianMs) return { ...cell, shape };
    if (cell.peer === COPY_PEER) return { ...cell, shape, ...(cell.bytesMoved ? { gbps: gbPerSecond(cell.bytesMoved, cell.medianMs) } : {}) };
    return { ...cell, shape, tops: tops(attentionOps(shape), cell.medianMs) };
  });
  return {
    ...base,
    status: parsed.status,
    ...(parsed.reason ? { reason: parsed.reason } : {}),
    ...(parsed.python ? { pythonVersion: parsed.python } : {}),
    ...(parsed.torch ? { torch: parsed.torch } : {}),
    ...(parsed.cudaRuntime ? { cudaRuntime: parsed.cudaRuntime } : {}),
    ...(parsed.device ? { device: parsed.device } : {}),
    cells,
    ratios: [],
  };
}

/** Whether two cells have the same shape and mask. */
export const sameShape = (a: CellShape, b: CellShape) =>
  a.batch === b.batch && a.heads === b.heads && a.kvHeads === b.kvHeads && a.seqQ === b.seqQ && a.seqKV === b.seqKV && a.headDim === b.headDim && a.causal === b.causal;

/** What a ratio needs of a peer's cell (the SDPA peers' and onnxruntime-web's alike). */
export interface TimedPeerCell<P extends string> {
  peer: P;
  shape: CellShape;
  status: 'ok' | 'error' | 'skipped';
  medianMs?: number;
}

/**
 * Ratios of every successful qattn cell that `keep` accepts against every successful peer cell of the same shape: the
 * whole call (quantization included) and, where the backend reports it, the attention kernel alone. `withPath` adds
 * the path the backend reports for the cell.
 */
export function ratiosAgainst<P extends string>(cells: CellResult[], peers: TimedPeerCell<P>[], keep: (cell: CellResult) => boolean, withPath = false) {
  const out: Array<Omit<PeerRatio, 'peer'> & { peer: P; path?: string }> = [];
  for (const cell of cells) {
    if (cell.status !== 'ok' || !cell.timing || !keep(cell)) continue;
    for (const peer of peers) {
      if (peer.status !== 'ok' || !peer.medianMs || !sameShape(cell.shape, peer.shape)) continue;
      const attnMs = cell.timing.attnMs;
      out.push({
        algorithm: cell.algorithm,
        backend: cell.backend,
        ...(withPath && cell.timing.path ? { path: cell.timing.path } : {}),
        peer: peer.peer,
        shape: cell.shape,
        qattnMs: cell.timing.medianMs,
        peerMs: peer.medianMs,
        speedup: peer.medianMs / cell.timing.medianMs,
        ...(attnMs !== undefined && attnMs > 0 ? { qattnKernelMs: attnMs, kernelSpeedup: peer.medianMs / attnMs } : {}),
      });
    }
  }
  return out;
}

/** Whether a sweep peer cell is an SDPA configuration (not the copy). */
export const isSdpaPeer = (cell: PeerCell): cell is PeerCell & { peer: PeerName } => cell.peer !== COPY_PEER;

/** The SDPA peers' ratios: every GPU backend's cells (the copy is no attention: see `quantCopyRatios`). */
export function peerRatios(cells: CellResult[], peers: PeerCell[]): PeerRatio[] {
  return ratiosAgainst(cells, peers.filter(isSdpaPeer), (cell) => cell.backend !== 'cpu');
}

/**
 * Each CUDA cell's quantization GB/s (quant-traffic.ts: minimum bytes / quantMs) against the GB/s of the copy of its
 * shape. `extraOptions`: the run's `--options`, which may change the bytes (pv, blockN).
 */
export function quantCopyRatios(cells: CellResult[], peers: PeerCell[], extraOptions: Record<string, unknown> = {}): QuantCopyRatio[] {
  const out: QuantCopyRatio[] = [];
  for (const cell of cells) {
    const quant = quantBandwidthOf(cell, extraOptions);
    if (!quant) continue;
    const copy = peers.find((p) => p.peer === COPY_PEER && p.status === 'ok' && p.medianMs && p.bytesMoved && p.gbps !== undefined && sameShape(p.shape, cell.shape));
    if (!copy) continue;
    out.push({
      algorithm: cell.algorithm,
      backend: cell.backend,
      shape: cell.shape,
      quantMs: cell.timing!.quantMs!,
      ...quant,
      copyMs: copy.medianMs!,
      copyBytes: copy.bytesMoved!,
      copyGbps: copy.gbps!,
      ofCopy: quant.quantGbps / copy.gbps!,
    });
  }
  return out;
}
