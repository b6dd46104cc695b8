import { QattnError } from '@qattn/quant-core';
import type { GpuContext } from '../device.js';
import type { TokenView } from './channel-mean.js';
import { cachedPipeline, encodeDispatch, type UniformWord, wgslConstants } from './dispatch.js';
import quantizeSource from './quantize_v.wgsl';
import scalesSource from './v_scales.wgsl';

/** How V is stored for P·V: INT8 codes with scales per (block of keys, channel), or f16 (`pv: 'fp16'`). */
export interface VLayout {
  pv: 'int8' | 'fp16';
  /** Keys per scale block (the whole sequence for one scale over all keys). */
  blockTokens: number;
  /** One scale for all channels of a block instead of one per channel (stored repeated per channel). */
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

/** Uniforms of V's quantization: of `v_scales.wgsl` (INT8 only, else undefined) and of `quantize_v.wgsl`. */
export function quantizeVUniforms(view: TokenView, layout: VLayout, subtractMean: boolean): { scales: UniformWord[] | undefined; codes: UniformWord[] } {
  const blocks = vScaleBlocks(view, layout);
  const mean = subtractMean ? 1 : 0;
  const words = Math.ceil(view.tokens / vElementsPerWord(layout.pv));
  return {
    scales:
      layout.pv === 'int8'
        ? [
            { u32: view.tokens },
            { u32: view.channels },
            { u32: layout.blockTokens },
            { u32: blocks },
            { u32: mean },
            { u32: layout.perHead ? 1 : 0 },
            { u32: vScaleChannelsPerWorkgroup(view, layout) },
          ]
        : undefined,
    codes: [{ u32: view.tokens }, { u32: view.channels }, { u32: words }, { u32: layout.blockTokens }, { u32: blocks }, { u32: mean }],
  };
}

/**
 * Encodes V's quantization: its scales `f32[G, blocks, D]` (INT8 only) and its codes, transposed to `u32[G, D,
 * vWords]` with keys packed along each word, the operand layout of `dot4I8Packed` in P·V. With `mean`, V − mean is
 * stored (V smoothing; the attention kernel adds the mean back). `params` from {@link quantizeVUniforms}.
 */
export function encodeQuantizeV(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  params: { scales: GPUBuffer | undefined; codes: GPUBuffer },
  v: GPUBuffer,
  mean: GPUBuffer | undefined,
  out: { codes: GPUBuffer; scale: GPUBuffer },
  view: TokenView,
  layout: VLayout,
): void {
  if (layout.pv === 'int8') {
    if (!params.scales) throw new QattnError('ERR_QATTN_OPTION', 'encodeQuantizeV: INT8 V needs the uniforms of v_scales.wgsl');
    const scaleChannels = vScaleChannelsPerWorkgroup(view, layout);
    const scalesPipeline = cachedPipeline(context, 'qattn/v_scales', () => scalesSource);
    encodeDispatch(
      context,
      encoder,
      scalesPipeline,
      [params.scales, v, mean ?? v, out.scale],
      [vScaleBlocks(view, layout), view.groups, Math.ceil(view.channels / scaleChannels)],
    );
  }
  const elements = vElementsPerWord(layout.pv);
  const words = Math.ceil(view.tokens / elements);
  const quantizePipeline = cachedPipeline(context, `qattn/quantize_v:${layout.pv}`, () =>
    [wgslConstants({ PV_ELEMS: elements, PV_FP16: layout.pv === 'fp16' }), quantizeSource].join('\n'),
  );
  encodeDispatch(context, encoder, quantizePipeline, [params.codes, v, mean ?? v, out.scale, out.codes], [Math.ceil(words / V_WORDS_PER_WORKGROUP), view.groups]);
}
