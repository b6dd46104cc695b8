import type { AttentionPlanRequest, QuantizedAttentionVariant, WebGpuRunOptions } from '@qattn/webgpu-runtime';
import type { TurboCall } from '../backends.js';
import type { ResolvedTurboOptions } from '../options.js';

/** Names turbo-attn's WebGPU calls in errors and buffer labels. */
export const TURBO_WEBGPU = 'turbo-attn webgpu';

/**
 * TurboAttention's options as the shared WebGPU skeleton's variant (docs/KERNELS.md): FlashQ's block-wise Q/K/V
 * scales (one per blockM queries, per blockN keys), P codes in [0, 127], SAS with its all-zero tile skip (or exact
 * exp2 and no skip with `sas: false`), and the smoothing, P-scale and V-granularity levers as chosen.
 */
export function turboWebGpuVariant(options: ResolvedTurboOptions): QuantizedAttentionVariant {
  return {
    qRowsPerScale: options.blockM,
    kRowsPerScale: options.blockN,
    smoothK: options.smoothK,
    pv: 'int8',
    vScale: { keysPerScale: options.blockN, perChannel: options.vGranularity === 'blockChannel' },
    smoothV: options.smoothV,
    pCodeMax: 127,
    pScale: options.pScale,
    exponent: options.sas ? 'sas' : 'exp2',
    sasThreshold: options.sasThreshold,
    skipSparseTiles: options.sas,
    blockN: options.blockN,
  };
}

/** The shared layer's plan request of one turbo-attn call. */
export function turboPlanRequest(call: Pick<TurboCall, 'shape' | 'scale' | 'causal' | 'options'>, run: WebGpuRunOptions = {}): AttentionPlanRequest {
  return { label: TURBO_WEBGPU, shape: call.shape, scale: call.scale, causal: call.causal, variant: turboWebGpuVariant(call.options), run };
}
