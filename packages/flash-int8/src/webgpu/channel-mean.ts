import type { GpuContext } from '@qattn/webgpu-runtime';
import source from './channel_mean.wgsl';
import { cachedPipeline, encodeDispatch, uniformBuffer } from './dispatch.js';

/** `[groups, tokens, channels]` view of a K or V tensor (groups = batch · kvHeads). */
export interface TokenView {
  groups: number;
  tokens: number;
  channels: number;
}

/** Encodes mean[g, d] = mean over tokens of x[g, :, d] (the K/V smoothing offset). */
export function encodeChannelMean(context: GpuContext, encoder: GPUCommandEncoder, x: GPUBuffer, mean: GPUBuffer, view: TokenView): GPUBuffer[] {
  const pipeline = cachedPipeline(context, 'flash-int8/channel_mean', () => source);
  const params = uniformBuffer(context, [{ u32: view.tokens }, { u32: view.channels }]);
  encodeDispatch(context, encoder, pipeline, [params, x, mean], [Math.ceil(view.channels / 8), view.groups]);
  return [params];
}
