import type { GpuContext } from '../device.js';
import type { TokenView } from './channel-mean.js';
import { cachedPipeline, encodeDispatch, type UniformWord } from './dispatch.js';
import source from './quantize_rows.wgsl';

/** Where {@link encodeQuantizeRows} writes: packed codes `u32[G, T, D/4]` and one scale per row `f32[G, T]`. */
export interface Int8RowsBuffers {
  codes: GPUBuffer;
  rowScale: GPUBuffer;
}

/** Rows one workgroup of `quantize_rows.wgsl` quantizes with per-token scales (256 threads, 32 per row). */
export const QUANTIZE_ROWS_PER_WORKGROUP = 8;

/**
 * Workgroups along the tokens of one group: per-token scales pack {@link QUANTIZE_ROWS_PER_WORKGROUP} rows into a
 * workgroup; per-block scales take one workgroup per block (its max is a workgroup-wide reduction).
 */
export function quantizeRowsWorkgroups(tokens: number, rowsPerScale: number): number {
  return Math.ceil(tokens / (rowsPerScale === 1 ? QUANTIZE_ROWS_PER_WORKGROUP : rowsPerScale));
}

/** Uniforms of `quantize_rows.wgsl`: one scale per `rowsPerScale` tokens, of x − mean when `subtractMean`. */
export function quantizeRowsUniforms(view: TokenView, rowsPerScale: number, subtractMean: boolean): UniformWord[] {
  return [{ u32: view.tokens }, { u32: view.channels }, { u32: rowsPerScale }, { u32: subtractMean ? 1 : 0 }];
}

/**
 * Encodes symmetric INT8 quantization of Q or K with one scale per `rowsPerScale` tokens (1 = per token; blockM/blockN
 * = per block), optionally of x − mean (K smoothing); `params` from {@link quantizeRowsUniforms}.
 */
export function encodeQuantizeRows(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  params: GPUBuffer,
  x: GPUBuffer,
  mean: GPUBuffer | undefined,
  out: Int8RowsBuffers,
  view: TokenView,
  rowsPerScale: number,
): void {
  const pipeline = cachedPipeline(context, 'qattn/quantize_rows', () => source);
  // The shader never reads `mean` when subtract_mean is 0; any buffer satisfies the binding.
  const workgroupsPerGroup = quantizeRowsWorkgroups(view.tokens, rowsPerScale);
  encodeDispatch(context, encoder, pipeline, [params, x, mean ?? x, out.codes, out.rowScale], [workgroupsPerGroup, view.groups]);
}
