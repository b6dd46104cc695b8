import type { KVCacheMemory } from '@qattn/kv-cache';
import type { Workload } from './workload.js';

/** The kernels the page compares. */
export type KernelName = 'flash-int8' | 'turbo-attn' | 'float32' | 'float16';

/** One row of the attention table: one kernel on one backend, timed and checked against float64. */
export interface AttentionRow {
  kernel: KernelName;
  label: string;
  backend: 'webgpu' | 'cpu';
  /** Median of the timed calls (device timers on WebGPU, quantization included for the INT8 kernels). */
  medianMs?: number;
  tops?: number;
  /** Which clock timed it: `timestamp-query` (GPU), `host` (CPU, or a GPU without timestamp queries). */
  timer?: string;
  /** Relative L2 error of the output on LLM-like inputs against float64 attention. */
  relL2?: number;
  /** The bound the package states for relL2. */
  bound: number;
  /** Why the row did not run (an adapter without shader-f16, no WebGPU). */
  skipped?: string;
  /** The error it failed with: name, code and message. */
  error?: string;
}

/** The attention comparison of one page load. */
export interface AttentionReport {
  rows: AttentionRow[];
  /** Which rows of the output the float64 reference covers ("all 1024 rows" or a sample on large shapes). */
  referenceRows: string;
  referenceMs: number;
}

/** The decode loop over the quantized KV cache. */
export interface DecodeReport {
  /** Where the cache lived while decoding. */
  cacheBackend: 'webgpu' | 'cpu';
  /** Why it is not the WebGPU cache, when it is not. */
  fallbackReason?: string;
  promptTokens: number;
  steps: number;
  /** Appending the prompt's K and V (quantizing them into pages). */
  promptAppendMs: number;
  /** Each step: append the new token's K and V, then turboDecode its query. */
  stepMs: number[];
  /** Steps after the first (which warms up: kernel compilation, JIT) per second of wall-clock time. */
  tokensPerSecond: number;
  /** Relative L2 error of every step's output together against float64 attention over the unquantized K and V. */
  relL2: number;
  bound: number;
  memory: KVCacheMemory;
}

/** What the WebGPU probe found. */
export interface WebGpuStatus {
  available: boolean;
  /** Adapter identity (`navigator: google swiftshader`), when available. */
  adapter?: string;
  software?: boolean;
  shaderF16?: boolean;
  packedDot4?: boolean;
  timestampQuery?: boolean;
  /** Why WebGPU cannot run here, when it cannot. */
  reason?: string;
}

/** Everything one page load measured; published on `window.qattnDemo` for the browser test. */
export interface DemoResults {
  status: 'running' | 'done' | 'error';
  workload?: Workload;
  webgpu?: WebGpuStatus;
  attention?: AttentionReport;
  decode?: DecodeReport;
  /** The error that stopped the page, when status is `error`. */
  error?: string;
  elapsedMs?: number;
}

declare global {
  interface Window {
    qattnDemo?: DemoResults;
  }
}
