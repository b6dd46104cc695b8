/**
 * The peers of the decode-cache preset, from peers/sdpa_peers.py in its `decode-cache` mode: PyTorch SDPA decode over
 * plain fp16/bf16 K/V (flash and cuDNN, GQA through enable_gqa or repeat_interleave) and a device-to-device copy of the
 * fp16 K/V bytes (the bandwidth ceiling); then each qattn row against them, and each WebGPU row against the plain
 * WGSL decode baselines of its shape (wgsl-baseline.ts).
 */
import type { CellShape } from '../metrics.js';
import { type PeerTiming, runPeersScript } from '../peers.js';
import type { BackendName } from '../presets.js';
import type { CacheKindName } from './kinds.js';
import { type DecodeAlgorithm, type DecodeCacheRow, gbPerSecond } from './rows.js';
import { type DecodeWgslCell, WGSL_BASELINES, type WgslBaselineName } from './wgsl-baseline.js';

/** The SDPA decode configurations, then the copy. */
export const DECODE_SDPA_PEERS = ['sdpa-flash-fp16', 'sdpa-flash-bf16', 'sdpa-cudnn-fp16', 'sdpa-cudnn-bf16'] as const;
export const DECODE_PEER_NAMES = [...DECODE_SDPA_PEERS, 'copy-fp16'] as const;
export type DecodePeerName = (typeof DECODE_PEER_NAMES)[number];
export type DecodeSdpaPeerName = (typeof DECODE_SDPA_PEERS)[number];

/** One peer measurement on one shape. */
export interface DecodePeerCell extends PeerTiming<DecodePeerName> {
  /** Bytes one call moves through device memory: the K and V it reads (SDPA); read + write (the copy). */
  bytesMoved?: number;
  /** bytesMoved / medianMs. */
  gbps?: number;
  /** How SDPA got GQA: `enable_gqa`, K/V expanded by `repeat_interleave` (the backend refused GQA), or `none` (MHA). */
  gqa?: 'enable_gqa' | 'repeat_interleave' | 'none';
}

/** The peers of a decode-cache run. `unavailable`: no python, no torch or no CUDA; the reason says which. */
export interface DecodePeersReport {
  status: 'ok' | 'unavailable' | 'error';
  reason?: string;
  python: string;
  pythonVersion?: string;
  torch?: string;
  cudaRuntime?: string;
  device?: string;
  /** The GPU's L2 cache (torch): a cache no larger than this may stay resident between back-to-back steps. */
  l2CacheBytes?: number;
  cells: DecodePeerCell[];
}

export interface DecodePeerRunOptions {
  python?: string;
  warmup: number;
  /** Least wall time of each cell's warm-up after the `warmup` calls, in ms (0 or absent: count only). */
  warmupMs?: number;
  repeats: number;
  seed: number;
  accuracyRows: number;
  onProgress?: (done: number, total: number, label: string) => void;
}

type ScriptCell = Omit<DecodePeerCell, 'shape' | 'gbps'> & { shapeIndex: number };

/** Runs the peers script in `decode-cache` mode on `shapes`. Never throws (see `runPeersScript`). */
export async function runDecodePeers(shapes: CellShape[], options: DecodePeerRunOptions): Promise<DecodePeersReport> {
  const input = { mode: 'decode-cache', shapes, warmup: options.warmup, warmupMs: options.warmupMs ?? 0, repeats: options.repeats, seed: options.seed, accuracyRows: options.accuracyRows };
  const answer = await runPeersScript<ScriptCell>(input, options);
  if (!answer.ok) return { status: answer.status, reason: answer.reason, python: answer.python, cells: [] };
  const { output } = answer;
  const cells = output.cells.map(({ shapeIndex, ...cell }): DecodePeerCell => {
    const withShape: DecodePeerCell = { ...cell, shape: shapes[shapeIndex] };
    if (cell.status === 'ok' && cell.medianMs && cell.bytesMoved) withShape.gbps = gbPerSecond(cell.bytesMoved, cell.medianMs);
    return withShape;
  });
  const l2 = output.l2CacheBytes;
  return {
    status: output.status,
    ...(output.reason ? { reason: output.reason } : {}),
    python: answer.python,
    ...(output.python ? { pythonVersion: output.python } : {}),
    ...(output.torch ? { torch: output.torch } : {}),
    ...(output.cudaRuntime ? { cudaRuntime: output.cudaRuntime } : {}),
    ...(output.device ? { device: output.device } : {}),
    ...(typeof l2 === 'number' && l2 > 0 ? { l2CacheBytes: l2 } : {}),
    cells,
  };
}

/** One qattn row against the peers of its shape. */
export interface DecodeComparison {
  algorithm: DecodeAlgorithm;
  backend: BackendName;
  cache: CacheKindName;
  shape: CellShape;
  qattnMs: number;
  /** Per SDPA peer that ran: its time and peerMs / qattnMs (> 1: qattn is faster). */
  sdpa: Array<{ peer: DecodeSdpaPeerName; peerMs: number; speedup: number }>;
  /** The fastest SDPA peer of the shape: what the speed targets are judged against. */
  fastestSdpa?: { peer: DecodeSdpaPeerName; peerMs: number; speedup: number };
  qattnGbps?: number;
  copyGbps?: number;
  /** qattnGbps / copyGbps: the share of the copy's bandwidth a decode step reaches. */
  ofCopy?: number;
  /** webgpu rows: per WGSL baseline that ran on the shape (same adapter), its time and peerMs / qattnMs. */
  wgsl?: Array<{ peer: WgslBaselineName; peerMs: number; speedup: number }>;
  /** The faster WGSL baseline of the shape: what the WebGPU speed target is judged against. */
  fastestWgsl?: { peer: WgslBaselineName; peerMs: number; speedup: number };
}

const sameShape = (a: CellShape, b: CellShape) =>
  a.batch === b.batch && a.heads === b.heads && a.kvHeads === b.kvHeads && a.seqQ === b.seqQ && a.seqKV === b.seqKV && a.headDim === b.headDim;

/**
 * Relates every measured GPU row (the peers are GPU numbers; a cpu row has none) to the peers of its shape: the
 * speedup against each SDPA peer and the fastest, its GB/s against the copy's, and (webgpu rows) the speedup against
 * each WGSL baseline and the faster one.
 */
export function compareDecodePeers(rows: DecodeCacheRow[], peers: DecodePeerCell[], wgslCells: DecodeWgslCell[] = []): DecodeComparison[] {
  const out: DecodeComparison[] = [];
  for (const row of rows) {
    if (row.status !== 'ok' || !row.step || row.backend === 'cpu') continue;
    const mine = peers.filter((p) => p.status === 'ok' && p.medianMs && sameShape(p.shape, row.shape));
    const qattnMs = row.step.medianMs;
    const sdpa = DECODE_SDPA_PEERS.flatMap((peer) => {
      const cell = mine.find((p) => p.peer === peer);
      return cell ? [{ peer, peerMs: cell.medianMs!, speedup: cell.medianMs! / qattnMs }] : [];
    });
    const copy = mine.find((p) => p.peer === 'copy-fp16' && p.gbps !== undefined);
    const wgsl =
      row.backend !== 'webgpu'
        ? []
        : WGSL_BASELINES.flatMap((peer) => {
            const cell = wgslCells.find((c) => c.peer === peer && c.status === 'ok' && c.step && sameShape(c.shape, row.shape));
            return cell ? [{ peer, peerMs: cell.step!.medianMs, speedup: cell.step!.medianMs / qattnMs }] : [];
          });
    if (sdpa.length === 0 && !copy && wgsl.length === 0) continue;
    const fastest = sdpa.reduce<(typeof sdpa)[number] | undefined>((best, s) => (!best || s.peerMs < best.peerMs ? s : best), undefined);
    const fastestWgsl = wgsl.reduce<(typeof wgsl)[number] | undefined>((best, s) => (!best || s.peerMs < best.peerMs ? s : best), undefined);
    out.push({
      algorithm: row.algorithm,
      backend: row.backend,
      cache: row.cache,
      shape: row.shape,
      qattnMs,
      sdpa,
      ...(fastest ? { fastestSdpa: fastest } : {}),
      ...(row.gbps !== undefined ? { qattnGbps: row.gbps } : {}),
      ...(copy ? { copyGbps: copy.gbps } : {}),
      ...(copy && row.gbps !== undefined ? { ofCopy: row.gbps / copy.gbps! } : {}),
      ...(fastestWgsl ? { wgsl, fastestWgsl } : {}),
    });
  }
  return out;
}
