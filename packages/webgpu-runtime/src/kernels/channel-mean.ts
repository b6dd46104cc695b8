import type { GpuContext } from '../device.js';
import source from './channel_mean.wgsl';
import { cachedPipeline, encodeDispatch, type UniformWord } from './dispatch.js';

/** `[groups, tokens, channels]` view of a Q, K or V tensor (groups = batch · heads, or batch · kvHeads). */
export interface TokenView {
  groups: number;
  tokens: number;
  channels: number;
}

/** Uniforms of `channel_mean.wgsl` for a view. */
export function channelMeanUniforms(view: TokenView): UniformWord[] {
  return [{ u32: view.tokens }, { u32: view.channels }];
}

/** Encodes mean[g, d] = mean over tokens of x[g, :, d] (the K/V smoothing offset); `params` from {@link channelMeanUniforms}. */
export function encodeChannelMean(context: GpuContext, encoder: GPUCommandEncoder, params: GPUBuffer, x: GPUBuffer, mean: GPUBuffer, view: TokenView): void {
  const pipeline = cachedPipeline(context, 'qattn/channel_mean', () => source);
  encodeDispatch(context, encoder, pipeline, [params, x, mean], [Math.ceil(view.channels / 8), view.groups]);
}
