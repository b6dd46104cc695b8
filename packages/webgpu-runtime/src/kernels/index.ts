// The shared WebGPU kernel layer (docs/KERNELS.md): one quantized-attention skeleton whose variants are data, the
// quantization passes it runs on, the float baseline, and the plumbing every kernel package needs (pipelines,
// uniforms, dispatch, timing, schedules, the plan cache).
export { chooseSasPrecision, type ExponentName, exponentWgsl, type ExponentWgsl, SAS_F32_MAX_REL_ERROR, type SasPrecision } from './exponent.js';
export { checkQuantizedAttentionVariant, type QuantizedAttentionVariant, quantizedAttentionVariantKey } from './variant.js';
export {
  allocateWorkspace,
  type AttentionInputs,
  type AttentionKernelOverride,
  type AttentionPlanRequest,
  attentionPlanKey,
  type AttentionUniforms,
  encodeAttention,
  encodeQuantization,
  planQuantizedAttention,
  type QuantizationOp,
  quantizationOps,
  type QuantizedAttentionPlan,
  type QuantizedAttentionWorkspace,
  type WebGpuRunOptions,
} from './attention-plan.js';
export {
  type AttentionIoBuffers,
  CachedAttentionPlan,
  cachedAttentionPlan,
  cachedAttentionPlanCount,
  clearAttentionPlans,
  dropAttentionPlan,
  outputBytes,
  PLAN_CACHE_CAPACITY,
} from './plan-cache.js';
export { benchmarkQuantizedAttention, checkDeviceInputs, quantizedAttentionOnArrays, quantizedAttentionOnDevice } from './attention-call.js';
export {
  type AttentionDims,
  encodeInt8Attention,
  type Int8AttentionKernel,
  int8AttentionKey,
  type Int8AttentionOperands,
  int8AttentionSource,
  int8AttentionUniforms,
} from './attn-fwd-int8.js';
export { encodeFloatAttention, floatAttentionSource, floatAttentionUniforms } from './attn-fwd-float.js';
export { floatAttentionBenchmark, type FloatBaselineDType, floatAttentionWebGpu } from './float-baseline.js';
export {
  type AttentionArithmetic,
  type AttentionSchedule,
  chooseAttentionSchedule,
  int8Preferences,
  isSupportedHeadDim,
  type ScheduleLimits,
  type ScheduleOverrides,
  type ScheduleProblem,
  workgroupBytesOf,
} from './schedule.js';
export { channelMeanUniforms, encodeChannelMean, type TokenView } from './channel-mean.js';
export { encodeQuantizeRows, type Int8RowsBuffers, QUANTIZE_ROWS_PER_WORKGROUP, quantizeRowsUniforms, quantizeRowsWorkgroups } from './quantize-rows.js';
export {
  encodeQuantizeV,
  quantizeVUniforms,
  V_WORDS_PER_WORKGROUP,
  type VLayout,
  vElementsPerWord,
  vScaleBlocks,
  vScaleChannelsPerWorkgroup,
} from './quantize-v.js';
export { cachedPipeline, encodeDispatch, storageBuffer, type UniformWord, uniformBuffer, wgslConstants, wgslFloat, wordLoopBounds } from './dispatch.js';
export { type EncodeRepetition, timePhases } from './timing.js';
