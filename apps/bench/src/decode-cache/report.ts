import type { TurboDecodeOptions } from '@qattn/turbo-attn';
import { type CacheKindName, CACHE_KINDS } from './kinds.js';
import type { DecodeComparison, DecodePeersReport } from './peers.js';
import { BYTES_PER_STEP_DEFINITION, type DecodeCacheRow } from './rows.js';
import type { TargetCheck } from './targets.js';
import type { DecodeWgslReport } from './wgsl-baseline.js';

/** How the peers' and qattn's bandwidth are counted, for the JSON and the table legend. */
export const GBPS_DEFINITION =
  'GB/s = bytes / median time, 10^9 bytes per second. qattn: the bytes a decode step reads (bytesPerStepDefinition). ' +
  'SDPA: its fp16/bf16 K and V. copy-fp16: read + write of as many bytes as the fp16 K and V (2 × fp16 bytes), the ' +
  'bandwidth a memory-bound decode step can approach. wgsl-f32/wgsl-f16: the K and V they read (4 or 2 bytes an element).';

/** The decode-cache section of a report (`--preset decode-cache`). */
export interface DecodeCacheReport {
  settings: {
    warmup: number;
    repeats: number;
    /** Sequential device-resident steps timed for the host overhead. */
    calls: number;
    caches: CacheKindName[];
    /** What each cache kind passed to createKVCache, and what it is. */
    cacheKinds: Record<string, { bits: number; lowBitFraction?: unknown; description: string }>;
    fillChunkTokens: number;
    /** `--options`: extra turboDecode options. */
    options?: TurboDecodeOptions;
    bytesPerStepDefinition: string;
    gbpsDefinition: string;
  };
  rows: DecodeCacheRow[];
  peers?: DecodePeersReport;
  /** The plain WGSL decode baselines, on runs with webgpu rows. */
  wgslBaselines?: DecodeWgslReport;
  comparisons: DecodeComparison[];
  targets: TargetCheck[];
}

/** The settings block of a run's report. */
export function decodeCacheSettings(values: { warmup: number; repeats: number; calls: number; caches: CacheKindName[]; fillChunkTokens: number; options: TurboDecodeOptions }): DecodeCacheReport['settings'] {
  const cacheKinds: DecodeCacheReport['settings']['cacheKinds'] = {};
  for (const name of values.caches) {
    const { bits, lowBitFraction, description } = CACHE_KINDS[name];
    cacheKinds[name] = { bits, ...(lowBitFraction !== undefined ? { lowBitFraction } : {}), description };
  }
  return {
    warmup: values.warmup,
    repeats: values.repeats,
    calls: values.calls,
    caches: values.caches,
    cacheKinds,
    fillChunkTokens: values.fillChunkTokens,
    ...(Object.keys(values.options).length ? { options: values.options } : {}),
    bytesPerStepDefinition: BYTES_PER_STEP_DEFINITION,
    gbpsDefinition: GBPS_DEFINITION,
  };
}
