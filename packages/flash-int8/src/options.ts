import { type AttentionOptions, type BackendRequest, type OptionTable, QattnError, resolveOptions } from '@qattn/quant-core';

/**
 * Options of {@link flashInt8Attention}. Every option is a variant of the INT-FlashAttention algorithm
 * (docs/ALGORITHMS.md §1) or a CPU schedule knob; all are validated once, up front, against {@link FLASH_INT8_OPTIONS}.
 */
export interface FlashInt8Options extends AttentionOptions {
  /** Which backend runs the call. `'auto'` (default) takes the fastest one that loads here. */
  backend?: BackendRequest;
  /**
   * P·V precision: `'int8'` (INT8 P and V, INT32 accumulation; the paper's full method), `'fp16'` (INT8 Q·Kᵀ only), or
   * `'fp8'` — CPU backend only for now: P and V as e4m3 (P scaled by 448, V by max|v|/448 per channel over all keys),
   * fp32 accumulation, V's scale applied once per row (SageAttention2's P·V; the oracle of a coming sm90 kernel,
   * arithmetic in @qattn/quant-core's `createPvFp8Stage`). GPU backends reject it with `ERR_QATTN_UNSUPPORTED`.
   */
  pv?: 'int8' | 'fp16' | 'fp8';
  /** Q/K scale granularity: one scale per `'token'` (the paper) or per `'block'` of blockM queries / blockN keys. */
  qkGranularity?: 'token' | 'block';
  /** Subtract K's per-channel mean over tokens before quantizing it (exact: softmax is shift-invariant). */
  smoothK?: boolean;
  /** INT8 P scale: `'global'` fixed 1/127 (the paper) or `'rowmax'`, the row max of P within each key tile. `pv:'int8'` only. */
  pScale?: 'global' | 'rowmax';
  /**
   * Largest INT8 P code: `127` (signed int8 codes in [0, 127], the paper) or `255` (unsigned codes in [0, 255]: P ≥ 0
   * after max subtraction, so an unsigned code doubles P's resolution; GPUs run it as a u8×s8 product).
   */
  pCodeMax?: 127 | 255;
  /**
   * INT8 V scale: per (batch, kvHead) `'head'` (the paper), per (batch, kvHead, channel) `'channel'`, or per
   * (batch, kvHead, block of blockN keys, channel) `'blockChannel'` (the paper's CUDA variant). Ignored by `pv:'fp16'`
   * and `pv:'fp8'` (always per channel over all keys).
   */
  vGranularity?: 'head' | 'channel' | 'blockChannel';
  /** Subtract V's per-channel mean before quantizing and add it back to the output (exact: P's rows sum to 1). */
  smoothV?: boolean;
  /**
   * Rotate Q and K by the same random-sign Hadamard transform before quantizing them (incoherent processing,
   * FlashAttention-3): exact, spreads outlier channels over their block. Blocks are the largest power of two ≤ 256
   * dividing headDim.
   */
  hadamard?: boolean;
  /** Queries per tile (CPU schedule; also the Q block of `qkGranularity:'block'`). */
  blockM?: number;
  /** Keys per tile (CPU schedule; also the K block of `qkGranularity:'block'` and the V block of `'blockChannel'`). */
  blockN?: number;
}

/** {@link FlashInt8Options} with every default filled in, as backends receive them. */
export type ResolvedFlashInt8Options = Required<Omit<FlashInt8Options, 'scale'>> & { scale: number | undefined };

/**
 * The option table: allowed values and defaults.
 *
 * Defaults were chosen by measurement on the CPU oracle: relative L2 against float64 `@qattn/reference` on its
 * LLM-like data (outlier K channels, attention sink, Student-t V), worst of 3 seeds, over 7 cases (hd 64/128, causal
 * and not, GQA 4:1 and 2:1, seqQ ≠ seqKV, 1K tokens, sharp q×3); `node scripts/measure-accuracy.mjs` reproduces it.
 *
 * The one default set by speed rather than by accuracy is `blockN` 64: it costs about 0.25 points against 32 and makes
 * the CUDA kernel 1.2–1.3× faster, because every output element is dequantized (INT32 → fp32, times the P and V
 * scales) once per key block: on an H200, B=4 H=32 N=16K, kernel-only, blockN 32 → 64 measured 302 → 376 TOPS at
 * hd128 and 249 → 304 TOPS at hd64 (README, CUDA section). `pCodeMax` 255 (unsigned P codes) then buys that margin
 * back for free. The rows above the rule are the current defaults and one change each from them (3 seeds); the rows
 * below it were measured around the earlier defaults (blockN 32, pCodeMax 127), each changing one option from them.
 *
 * | configuration                                        | LLM-like     | sharp (q×3)  | U[0,1) |
 * |------------------------------------------------------|--------------|--------------|--------|
 * | defaults (blockN 64, pCodeMax 255), pv 'int8'        | 1.22–1.48%   | 1.21–1.35%   | 0.03%  |
 * | defaults but pCodeMax 127                            | 1.49–1.74%   | 1.22–1.37%   | 0.04%  |
 * | defaults but blockN 32                               | 1.01–1.21%   | 0.95–1.11%   | 0.03%  |
 * | defaults but blockN 128                              | 1.61–2.00%   | 1.36–1.49%   | 0.03%  |
 * | defaults but pScale 'global'                         | 1.51–1.96%   | 1.23–1.35%   | 0.03%  |
 * | defaults, pv 'fp16'                                  | 0.57–0.76%   | 0.57–0.66%   | 0.00%  |
 * |------------------------------------------------------|--------------|--------------|--------|
 * | blockN 32, pCodeMax 127, pv 'int8' (earlier defaults)| 1.20–1.38%   | 0.96–1.12%   | 0.04%  |
 * | blockN 32, pv 'fp16'                                 | 0.57–0.76%   | 0.57–0.66%   | 0.00%  |
 * | the paper (global P, per-head V, no smoothing)       | 4.7–11.4%    | 4.4–7.8%     | 0.04%  |
 * | earlier, but smoothK false                           | 1.78–1.96%   | 1.69–2.06%   |        |
 * | earlier, but pScale 'global'                         | 1.81–2.86%   | 1.00–1.19%   |        |
 * | earlier, but vGranularity 'head'                     | 4.1–11.0%    | 4.0–7.6%     |        |
 * | earlier, but vGranularity 'channel'                  | 1.74–2.35%   | 1.56–1.70%   |        |
 * | earlier, but qkGranularity 'block'                   | 1.26–1.47%   | 1.05–1.23%   |        |
 * | earlier, but blockN 16                               | 1.00–1.16%   | 0.81–0.98%   | 0.03%  |
 * | earlier, but blockN 128                              | 2.01–2.45%   | 1.38–1.51%   | 0.04%  |
 * | earlier, but smoothV true                            | 1.18–1.35%   | 0.94–1.12%   | 0.02%  |
 * | earlier, but hadamard true                           | 1.13–1.36%   | 0.96–1.06%   | 0.04%  |
 * | pv 'fp16', smoothK false                             | 1.41–1.69%   | 1.54–1.88%   | 0.01%  |
 * | pv 'fp16', smoothK false, hadamard true              | 0.68–0.94%   | 0.73–0.95%   | 0.01%  |
 */
export const FLASH_INT8_OPTIONS: OptionTable<FlashInt8Options> = {
  causal: { kind: 'boolean', default: false },
  // Validated with the shape by validateAttentionInputs (its default, 1/√headDim, depends on the shape).
  scale: { kind: 'passthrough', default: undefined },
  backend: { kind: 'enum', values: ['auto', 'cpu', 'webgpu', 'cuda'], default: 'auto' },
  // The paper's full INT8 method, made accurate by the levers below (1.2–1.4% against the 2% bar).
  // 'fp8' is the CPU oracle of an FP8 P·V (README, "FP8 P·V"): less accurate than 'int8' on this data (e4m3 keeps 3
  // mantissa bits for V and P), measured so the sm90 kernel can weigh it against INT8 P·V's per-tile dequantization.
  pv: { kind: 'enum', values: ['int8', 'fp16', 'fp8'], default: 'int8' },
  // Per token: 'block' costs 0.1–0.2 points and saves only the Q/K scale memory.
  qkGranularity: { kind: 'enum', values: ['token', 'block'], default: 'token' },
  // The outlier K channels otherwise set every key's scale: off costs 0.4–0.9 points (fp16 path: 0.6–0.8% → 1.4–1.9%).
  smoothK: { kind: 'boolean', default: true },
  // After the attention sink every later tile's P sits far below the running max: 'global' leaves it a few levels
  // out of 127 (up to +1.5 points).
  pScale: { kind: 'enum', values: ['global', 'rowmax'], default: 'rowmax' },
  // P ≥ 0, so the sign bit of an int8 code is wasted: unsigned codes [0, 255] halve P's rounding error for free
  // (u8×s8 MMA on CUDA, dot4U8Packed with V offset by 128 on WebGPU). Measured with the default blockN 64:
  // 1.49–1.74% → 1.03–1.37% (LLM-like), and the worst GPU-suite shape (hd128 causal GQA 200×333) 2.01% → 1.3–1.6%.
  pCodeMax: { kind: 'enum', values: [127, 255], default: 255 },
  // Student-t V: one scale per head is set by the rare huge values (4–11%); per channel over all keys still 1.7–2.4%;
  // per block of blockN keys and channel (the paper's CUDA variant) is the only one well inside the bar.
  vGranularity: { kind: 'enum', values: ['head', 'channel', 'blockChannel'], default: 'blockChannel' },
  // Neutral on this data (V has no channel offset, ±0.04 points) and one more pass over V: off. Turn it on for V with
  // large per-channel means (tested: 5× lower error with an offset of 200 on one channel).
  smoothV: { kind: 'boolean', default: false },
  // Exact and helpful without K smoothing (fp16 path 1.4–1.7% → 0.7–0.9%), within noise with it: off.
  hadamard: { kind: 'boolean', default: false },
  // Queries per tile: no effect on accuracy (per-token scales); 64 amortizes the per-tile work on the CPU.
  blockM: { kind: 'integer', min: 1, max: 1024, default: 64 },
  // Keys per tile, which is also the block of the P row max and of V's scales: smaller is more accurate
  // (with pCodeMax 255: 32: 1.0–1.2%, 64: 1.2–1.5%, 128: 1.6–2.0%). 64 for GPU speed: the CUDA kernel dequantizes each
  // output element once per key block, so 64 keys (two k32 steps of the INT8 MMA summed in INT32) halve that work
  // against 32 — measured 1.24× (hd128) and 1.22× (hd64) kernel speed on an H200 at N=16K — for about 0.25 points of
  // error. 128 reaches the 2% bar. Above headDim 128 the default stays 32 (see defaultBlockN).
  blockN: { kind: 'integer', min: 1, max: 1024, default: 64 },
};

/** Largest head dim whose default `blockN` is 64; larger heads default to 32. */
export const BLOCK_N_64_MAX_HEAD_DIM = 128;

/**
 * The default `blockN` for a head dim: 64 (GPU speed, 1.2–1.5% error) up to headDim 128, 32 above it. With signed P
 * codes (pCodeMax 127) 64-key blocks crossed the 2% bar at hd256 (2.005%, 1.53% with 32); with unsigned codes hd256
 * measures 1.46% at 64 and 1.19% at 32, but the WebGPU kernel's hd256 tiles disagree with the oracle at blockN 64
 * (an open bug), so large heads stay at 32 until that is fixed.
 */
export function defaultBlockN(headDim: number): number {
  return headDim > BLOCK_N_64_MAX_HEAD_DIM ? 32 : (FLASH_INT8_OPTIONS.blockN.default as number);
}

/**
 * Validates `options` (unknown keys and bad values throw `ERR_QATTN_OPTION`) and fills in the defaults. With
 * `headDim`, an unset `blockN` takes {@link defaultBlockN}; without it, the table's default (64).
 */
export function resolveFlashInt8Options(options: FlashInt8Options | undefined, headDim?: number): ResolvedFlashInt8Options {
  const resolved = resolveOptions(FLASH_INT8_OPTIONS, options, 'flashInt8Attention') as ResolvedFlashInt8Options;
  if (headDim !== undefined && options?.blockN === undefined) resolved.blockN = defaultBlockN(headDim);
  return resolved;
}

/** The P·V precisions the GPU backends implement: every `pv` but `'fp8'`, which only the CPU oracle has so far. */
export type GpuPv = Exclude<ResolvedFlashInt8Options['pv'], 'fp8'>;

/**
 * `options.pv` for a GPU backend. Throws `ERR_QATTN_UNSUPPORTED` (details: backend, option `'pv'`) for `pv: 'fp8'`,
 * which is CPU-only for now: no CUDA or WebGPU kernel implements FP8 P·V yet.
 * @param context the backend to name in the message, e.g. `'@qattn/flash-int8 cuda'`
 */
export function gpuPv(options: Pick<ResolvedFlashInt8Options, 'pv'>, context: string, backend: 'cuda' | 'webgpu'): GpuPv {
  if (options.pv === 'fp8') {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${context}: pv 'fp8' is CPU-only for now (no ${backend} kernel yet); use backend: 'cpu', or pv 'int8' / 'fp16'`, {
      backend,
      option: 'pv',
      value: 'fp8',
    });
  }
  return options.pv;
}
