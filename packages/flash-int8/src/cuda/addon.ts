import { type AttentionKernelBinding, loadAddon, packageRoot } from '@qattn/cuda-runtime';

/** Environment variable that may point at a prebuilt `qattn_flash_int8.node` (bundled deployments). */
export const FLASH_INT8_ADDON_ENV = 'QATTN_FLASH_INT8_ADDON';

let binding: AttentionKernelBinding | undefined;

/**
 * Loads flash-int8's CUDA addon once (native/: the INT-FlashAttention variant of @qattn/cuda-runtime's shared kernel
 * layer, exposing the shared attention addon surface); throws `ERR_QATTN_BACKEND_UNAVAILABLE` naming the build
 * command when it is missing.
 */
export function loadFlashInt8Addon(): AttentionKernelBinding {
  binding ??= loadAddon<AttentionKernelBinding>(packageRoot(import.meta.url), 'qattn_flash_int8.node', '@qattn/flash-int8', FLASH_INT8_ADDON_ENV);
  return binding;
}
