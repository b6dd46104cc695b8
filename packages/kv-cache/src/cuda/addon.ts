import { loadAddon, packageRoot } from '@qattn/cuda-runtime';

/** Device addresses of one page pool (`KVPoolPtrs`, native/kv_cache_args.h); absent pools are left out. */
export interface PoolPointers {
  codes: bigint;
  step: bigint;
  zero: bigint;
  scales: bigint;
}

/** The fields of `KVTensorPtrs` (native/kv_cache_args.h): one tensor's storage, its input and staging. */
export interface TensorArgFields {
  sink: bigint;
  bufferCodes: bigint;
  bufferScales: bigint;
  pageTable: bigint;
  pageBits: bigint;
  pool8?: PoolPointers;
  pool4?: PoolPointers;
  pool2?: PoolPointers;
  input: bigint;
  stageCodes: bigint;
  stageScales: bigint;
  stageSink: bigint;
  lowHeads: number;
  channelMajor: number;
}

/** The fields of `KVAppendArgs` (native/kv_cache_args.h). */
export interface AppendArgFields {
  k: TensorArgFields;
  v: TensorArgFields;
  lengths: bigint;
  kMean: bigint;
  signs: bigint | null;
  kPartial: bigint;
  status: bigint;
  plan: bigint;
  batch: number;
  kvHeads: number;
  headDim: number;
  pageSize: number;
  sinkTokens: number;
  maxPages: number;
  bits: 8 | 4;
  entries: number;
  tokens: number;
  chunks: number;
  jobs: number;
  checkFinite: number;
}

/** The fields of `KVClearArgs`. `sequence` −1 clears every sequence. */
export interface ClearArgFields {
  lengths: bigint;
  kMean: bigint;
  kPageTable: bigint;
  kPageBits: bigint;
  vPageTable: bigint;
  vPageBits: bigint;
  sequence: number;
  batch: number;
  kvHeads: number;
  headDim: number;
  maxPages: number;
}

/** The fields of `KVRelayoutArgs`: page-table rows of oldMax entries copied into rows of newMax. */
export interface RelayoutArgFields {
  oldTable: bigint;
  oldBits: bigint;
  newTable: bigint;
  newBits: bigint;
  groups: number;
  oldMax: number;
  newMax: number;
}

/**
 * kv-cache's CUDA addon (native/): launcher addresses (`qattn_launch_fn`s for `CudaRuntime.submit`) and the packers of
 * their argument blocks. It makes no CUDA call, so it loads without a GPU.
 */
export interface KVCacheCudaBinding {
  readonly abiVersion: number;
  readonly appendLauncher: bigint;
  readonly clearLauncher: bigint;
  readonly relayoutLauncher: bigint;
  readonly appendArgsBytes: number;
  /** Tokens per CTA of the quantize kernel (`kAppendChunkTokens`): the K-mean partials are per chunk. */
  readonly chunkTokens: number;
  packAppendArgs(fields: AppendArgFields): Uint8Array;
  packClearArgs(fields: ClearArgFields): Uint8Array;
  packRelayoutArgs(fields: RelayoutArgFields): Uint8Array;
  /** Dynamic shared memory of the page-compression kernel for this shape (bytes). */
  compressSharedBytes(shape: { kvHeads: number; headDim: number; pageSize: number }): number;
}

/** Environment variable that may point at a prebuilt `qattn_kv_cache.node` (bundled deployments). */
export const KV_CACHE_ADDON_ENV = 'QATTN_KV_CACHE_ADDON';

let binding: KVCacheCudaBinding | undefined;

/** Loads the addon once; throws `ERR_QATTN_BACKEND_UNAVAILABLE` naming the build command when it is missing. */
export function loadKVCacheAddon(): KVCacheCudaBinding {
  binding ??= loadAddon<KVCacheCudaBinding>(packageRoot(import.meta.url), 'qattn_kv_cache.node', '@qattn/kv-cache', KV_CACHE_ADDON_ENV);
  return binding;
}
