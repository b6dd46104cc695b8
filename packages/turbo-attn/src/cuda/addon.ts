import { type AttentionKernelBinding, loadAddon, packageRoot } from '@qattn/cuda-runtime';
import type { DecodeArgsLayout } from '../decode/cuda/args.js';

/** The fields of `SasProbeArgs` (native/sas_probe.h). */
export interface SasProbeFields {
  x: bigint;
  out: bigint;
  count: number;
  threshold: number;
}

/**
 * turbo-attn's CUDA addon (native/: the FlashQ variants of @qattn/cuda-runtime's shared kernel layer): the shared
 * attention addon surface, plus the SAS probe that evaluates the kernels' exponent on given inputs (GPU tests).
 */
export interface TurboAttnBinding extends AttentionKernelBinding {
  /** Address of `qattn_turbo_sas_probe_launch` (a `qattn_launch_fn`). */
  readonly sasProbeLauncher: bigint;
  packSasProbeArgs(fields: SasProbeFields): Uint8Array;
  /** Address of `qattn_turbo_decode_launch` (native/decode_paged_splitkv.cu, a `qattn_launch_fn`). */
  readonly decodeLauncher: bigint;
  /** Offsets of `qattn::DecodeArgs` (native/decode_args.h), packed by src/decode/cuda/args.ts. */
  readonly decodeArgsLayout: DecodeArgsLayout;
}

/** Environment variable that may point at a prebuilt `qattn_turbo_attn.node` (bundled deployments). */
export const TURBO_ATTN_ADDON_ENV = 'QATTN_TURBO_ATTN_ADDON';

let binding: TurboAttnBinding | undefined;

/** Loads the addon once; throws `ERR_QATTN_BACKEND_UNAVAILABLE` naming the build command when it is missing. */
export function loadTurboAttnAddon(): TurboAttnBinding {
  binding ??= loadAddon<TurboAttnBinding>(packageRoot(import.meta.url), 'qattn_turbo_attn.node', '@qattn/turbo-attn', TURBO_ATTN_ADDON_ENV);
  return binding;
}
