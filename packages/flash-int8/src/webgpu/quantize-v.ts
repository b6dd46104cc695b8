import type { GpuContext } from '@qattn/webgpu-runtime';
import type { TokenView } from './channel-mean.js';
import { cachedPipeline, encodeDispatch, uniformBuffer, wgslConstants } from './dispatch.js';
import quantizeSource from './quantize_v.wgsl';
import scalesSource from './v_scales.wgsl';

/** How V is stored for P·V: INT8 codes with scales per (block of keys, channel), or f16 (`pv: 'fp16'`). */
export interface VLayout {
  pv: 'int8' | 'fp16';
  /** Keys per scale block (the whole sequence for 'head' and 'channel' granularity). */
  blockTokens: number;
  /** One scale for all channels of a block ('head') instead of one per channel. */
  perHead: boolean;
}

/** Keys packed per u32 of transposed V: 4 int8 or 2 f16. */
export function vElementsPerWord(pv: VLayout['pv']): number {
  return pv === 'int8' ? 4 : 2;
}

/** Scale blocks along the keys. */
export function vScaleBlocks(view: TokenView, layout: VLayout): number {
  return Math.ceil(view.tokens / layout.blockTokens);
}

/** Channels one `v_scales.wgsl` workgroup measures: all of them for a per-head scale, else 8 (× 32 token lanes). */
export function vScaleChannelsPerWorkgroup(view: TokenView, layout: VLayout): number {
  return layout.perHead ? view.channels : 8;
}

/** Words of transposed V (PV_ELEMS keys each, all channels) one `quantize_v.wgsl` workgroup writes. */
export const V_WORDS_PER_WORKGROUP = 16;

/**
 * Encodes V's quantization: its scales `f32[G, blocks, D]` (INT8 only) and its codes, transposed to `u32[G, D,
 * vWords]` with keys packed along each word, the operand layout of `dot4I8Packed` in P·V. With `mean`, V − mean is
 * stored (V smoothing; the attention kernel adds the mean back).
 */
export function encodeQuantizeV(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  v: GPUBuffer,
  mean: GPUBuffer | undefined,
  out: { codes: GPUBuffer; scale: GPUBuffer },
  view: TokenView,
  layout: VLayout,
): GPUBuffer[] {
  const transient: GPUBuffer[] = [];
  const blocks = vScaleBlocks(view, layout);
  const subtractMean = mean ? 1 : 0;
  if (layout.pv === 'int8') {
    const scaleChannels = vScaleChannelsPerWorkgroup(view, layout);
    const scalesPipeline = cachedPipeline(context, 'flash-int8/v_scales', () => scalesSource);
    const scaleParams = uniformBuffer(context, [
      { u32: view.tokens },
      { u32: view.channels },
      { u32: layout.blockTokens },
      { u32: blocks },
      { u32: subtractMean },
      { u32: layout.perHead ? 1 : 0 },
      { u32: scaleChannels },
    ]);
    transient.push(scaleParams);
    encodeDispatch(context, encoder, scalesPipeline, [scaleParams, v, mean ?? v, out.scale], [blocks, view.groups, Math.ceil(view.channels / scaleChannels)]);
  }
  const elements = vElementsPerWord(layout.pv);
  const words = Math.ceil(view.tokens / elements);
  const quantizePipeline = cachedPipeline(context, `flash-int8/quantize_v:${layout.pv}`, () =>
    [wgslConstants({ PV_ELEMS: elements, PV_FP16: layout.pv === 'fp16' }), quantizeSource].join('\n'),
  );
  const params = uniformBuffer(context, [
    { u32: view.tokens },
    { u32: view.channels },
    { u32: words },
    { u32: layout.blockTokens },
    { u32: blocks },
    { u32: subtractMean },
  ]);
  transient.push(params);
  encodeDispatch(context, encoder, quantizePipeline, [params, v, mean ?? v, out.scale, out.codes], [Math.ceil(words / V_WORDS_PER_WORKGROUP), view.groups]);
  return transient;
}
