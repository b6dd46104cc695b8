import type { GpuContext } from '../device.js';
import type { AttentionDims } from './attn-fwd-int8.js';
import common from './attn_common.wgsl';
import source from './attn_fwd_float.wgsl';
import { cachedPipeline, encodeDispatch, tileConstants, type UniformWord, wgslConstants, wordLoopBounds } from './dispatch.js';
import type { AttentionSchedule } from './schedule.js';

/** The generated WGSL of the float baseline for a schedule whose arithmetic is 'f32' or 'f16'. */
export function floatAttentionSource(schedule: AttentionSchedule): string {
  const f16 = schedule.arithmetic === 'f16';
  return [
    f16 ? 'enable f16;' : '',
    f16 ? 'alias elem_t = f16;' : 'alias elem_t = f32;',
    f16 ? 'alias out_t = f16;' : 'alias out_t = f32;',
    'fn to_out(x: f32) -> out_t { return out_t(x); }',
    wgslConstants({
      ...tileConstants(schedule),
      CHANNEL_WORDS_PER_THREAD: schedule.headDim / 4 / schedule.threadsPerRow,
      KEY_GROUPS_PER_THREAD: schedule.keyGroupsPerThread,
      WORKGROUP_SIZE: schedule.workgroupSize,
      P_STRIDE: schedule.blockN + 1,
    }),
    ...wordLoopBounds(schedule, { qk_word_count: ['QK_WORDS', 'params.qk_words'], pv_key_count: ['BLOCK_N', 'params.block_n'] }),
    common,
    source,
  ].join('\n');
}

/** Uniforms of the float baseline. */
export function floatAttentionUniforms(schedule: AttentionSchedule, dims: AttentionDims): UniformWord[] {
  return [
    { u32: dims.heads },
    { u32: dims.kvHeads },
    { u32: dims.seqQ },
    { u32: dims.seqKV },
    { u32: dims.heads / dims.kvHeads },
    { u32: dims.causal ? 1 : 0 },
    { i32: dims.seqKV - dims.seqQ },
    { f32: dims.smScaleLog2 },
    { u32: schedule.headDim / 4 },
    { u32: schedule.blockN },
  ];
}

/**
 * Encodes the float FlashAttention baseline: q, k, v and out in the schedule's element type (f32 or f16); `params`
 * from {@link floatAttentionUniforms}.
 */
export function encodeFloatAttention(
  context: GpuContext,
  encoder: GPUCommandEncoder,
  schedule: AttentionSchedule,
  params: GPUBuffer,
  operands: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; out: GPUBuffer },
  dims: AttentionDims,
  timestampWrites?: GPUComputePassTimestampWrites,
): void {
  const pipeline = cachedPipeline(context, `qattn/attn_fwd_float:${schedule.key}`, () => floatAttentionSource(schedule));
  encodeDispatch(
    context,
    encoder,
    pipeline,
    [params, operands.q, operands.k, operands.v, operands.out],
    [Math.ceil(dims.seqQ / schedule.blockM), dims.batch * dims.heads],
    timestampWrites,
  );
}
