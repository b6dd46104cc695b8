import { loadAddon, packageRoot } from '@qattn/cuda-runtime';

/** Padded lengths and workspace sizes of one shape, as the kernels expect them (native/flash_int8_args.h). */
export interface FlashInt8Layout {
  seqQPad: number;
  seqKVPad: number;
  statSplits: number;
  qInt8Bytes: number;
  qScaleBytes: number;
  kInt8Bytes: number;
  kScaleBytes: number;
  vInt8Bytes: number;
  vFp16Bytes: number;
  vScaleBytes: number;
  meanBytes: number;
  statBytes: number;
}

/** The fields of `FlashInt8Args` (native/flash_int8_args.h): device pointers as bigint, the rest as numbers. */
export interface FlashInt8PackedFields {
  q: bigint;
  k: bigint;
  v: bigint;
  out: bigint;
  qInt8: bigint;
  qScale: bigint;
  kInt8: bigint;
  kScale: bigint;
  vT: bigint;
  vScale: bigint;
  kMean: bigint;
  vMean: bigint;
  statPartial: bigint;
  batch: number;
  heads: number;
  kvHeads: number;
  seqQ: number;
  seqKV: number;
  headDim: number;
  seqQPad: number;
  seqKVPad: number;
  statSplits: number;
  smScaleLog2: number;
  causal: number;
  pvFp16: number;
  pRowmax: number;
  smoothK: number;
  smoothV: number;
  /** Largest P code, 127 or 255 (`pCodeMax`): P is quantized to unsigned codes [0, pCodeMax] and run as u8×s8. */
  pCodeMax: number;
  /** Keys per P-rowmax block and V scale block (the oracle's blockN): one of `keyBlocks`. */
  keyBlock: number;
  /** Bits of `stageQuantize` / `stageAttention`. */
  stages: number;
}

/** The flash-int8 CUDA addon (native/flash_int8_addon.cc). It makes no CUDA call: device work goes through the runtime. */
export interface FlashInt8Binding {
  readonly abiVersion: number;
  /** Address of `qattn_flash_int8_launch` (a `qattn_launch_fn`). */
  readonly launcher: bigint;
  /** Head dimensions with a compiled kernel. */
  readonly headDims: readonly number[];
  /** Key block sizes (blockN) of INT8 P·V with a compiled kernel: P row maxima and V scales per block. */
  readonly keyBlocks: readonly number[];
  readonly stageQuantize: number;
  readonly stageAttention: number;
  layout(shape: { batch: number; heads: number; kvHeads: number; seqQ: number; seqKV: number; headDim: number }): FlashInt8Layout;
  packArgs(fields: FlashInt8PackedFields): Uint8Array;
}

/** Environment variable that may point at a prebuilt `qattn_flash_int8.node` (bundled deployments). */
export const FLASH_INT8_ADDON_ENV = 'QATTN_FLASH_INT8_ADDON';

let binding: FlashInt8Binding | undefined;

/** Loads the addon once; throws `ERR_QATTN_BACKEND_UNAVAILABLE` naming the build command when it is missing. */
export function loadFlashInt8Addon(): FlashInt8Binding {
  binding ??= loadAddon<FlashInt8Binding>(packageRoot(import.meta.url), 'qattn_flash_int8.node', '@qattn/flash-int8', FLASH_INT8_ADDON_ENV);
  return binding;
}
