// Decode attention over @qattn/kv-cache's paged quantized cache, and the merge of partial attention states.
export { turboDecode } from './turbo-decode.js';
export { type AttentionState, mergeAttentionStates } from './merge-attention-states.js';
export {
  MAX_DECODE_QUERY_TOKENS,
  TURBO_DECODE_OPTION_TABLE,
  type ResolvedTurboDecodeOptions,
  type TurboDecodeOptions,
  resolveTurboDecodeOptions,
} from './options.js';
export { type DecodeSplit, splitKVSchedule } from './split-kv-schedule.js';
export { type DecodeBackend, type DecodeTimingSettings, benchmarkDecode } from './decode-backend.js';
export {
  type CudaDecodableCache,
  type CudaDecodeBackend,
  type CudaDecodeTuning,
  type DecodeDeviceStorage,
  type DecodeSchedule,
  type DecodeScheduleInput,
  cudaDecodeSchedule,
  decodeMmaSupported,
  decodeMmaSmemBytes,
  loadCudaDecodeBackend,
} from './cuda/index.js';
export {
  type WebGpuDecodableCache,
  type WebGpuDecodeBackend,
  type WebGpuDecodeSchedule,
  type WebGpuDecodeTuning,
  loadWebGpuDecodeBackend,
  webGpuDecodeSchedule,
} from './webgpu/index.js';
