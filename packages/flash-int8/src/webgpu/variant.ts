import { QattnError, SAS_DEFAULT_THRESHOLD } from '@qattn/quant-core';
import type { AttentionPlanRequest, QuantizedAttentionVariant, WebGpuRunOptions } from '@qattn/webgpu-runtime';
import type { FlashInt8Call } from '../backends.js';
import { type ResolvedFlashInt8Options, gpuPv } from '../options.js';

/** Names flash-int8's WebGPU calls in errors and buffer labels. */
export const FLASH_INT8_WEBGPU = 'flash-int8 webgpu';

const V_SCALES: Record<ResolvedFlashInt8Options['vGranularity'], (blockN: number) => QuantizedAttentionVariant['vScale']> = {
  head: () => ({ keysPerScale: 'all', perChannel: false }),
  channel: () => ({ keysPerScale: 'all', perChannel: true }),
  blockChannel: (blockN) => ({ keysPerScale: blockN, perChannel: true }),
};

/**
 * INT-FlashAttention's options as the shared WebGPU skeleton's variant: exact exp2 and no tile skip; Q/K scales per
 * token (or per blockM/blockN block), the P and V levers as chosen. Throws `ERR_QATTN_UNSUPPORTED` for `hadamard`
 * and `pv: 'fp8'`, which have no WebGPU kernel.
 */
export function flashInt8Variant(options: ResolvedFlashInt8Options): QuantizedAttentionVariant {
  if (options.hadamard) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${FLASH_INT8_WEBGPU}: hadamard: true is not implemented on WebGPU (use the cpu backend)`, {
      option: 'hadamard',
    });
  }
  const pv = gpuPv(options, FLASH_INT8_WEBGPU, 'webgpu');
  const perToken = options.qkGranularity === 'token';
  return {
    qRowsPerScale: perToken ? 1 : options.blockM,
    kRowsPerScale: perToken ? 1 : options.blockN,
    smoothK: options.smoothK,
    pv,
    vScale: V_SCALES[options.vGranularity](options.blockN),
    smoothV: options.smoothV,
    pCodeMax: options.pCodeMax,
    pScale: options.pScale,
    exponent: 'exp2',
    sasThreshold: SAS_DEFAULT_THRESHOLD,
    skipSparseTiles: false,
    blockN: options.blockN,
  };
}

/** The shared layer's plan request of one flash-int8 call. */
export function flashInt8PlanRequest(call: Pick<FlashInt8Call, 'shape' | 'scale' | 'causal' | 'options'>, run: WebGpuRunOptions = {}): AttentionPlanRequest {
  return { label: FLASH_INT8_WEBGPU, shape: call.shape, scale: call.scale, causal: call.causal, variant: flashInt8Variant(call.options), run };
}
