import { type AttentionKernelOverride, cachedPipeline, encodeDispatch } from '@qattn/webgpu-runtime';
import { int8SubgroupMatrixKey, int8SubgroupMatrixSource, type SubgroupMatrixKernel } from './attn_fwd_int8_sgmat.wgsl.js';
import type { SubgroupMatrixSchedule } from './subgroup-matrix-schedule.js';

/**
 * The subgroup-matrix attention kernel as a plan's attention kernel: it runs on the workspace the shared quantization
 * passes fill, with the dot4 kernel's bindings and uniform buffer, one workgroup per `blockM` queries of a (batch, head).
 */
export function subgroupMatrixAttention(schedule: SubgroupMatrixSchedule, kernel: SubgroupMatrixKernel): AttentionKernelOverride {
  const key = int8SubgroupMatrixKey(schedule, kernel);
  return {
    key,
    encode(context, encoder, plan, workspace, out, timestampWrites) {
      const pipeline = cachedPipeline(context, key, () => int8SubgroupMatrixSource(schedule, kernel));
      const { dims } = plan;
      encodeDispatch(
        context,
        encoder,
        pipeline,
        [workspace.uniforms.attention, workspace.qCodes, workspace.qScale, workspace.kCodes, workspace.kScale, workspace.vCodes, workspace.vScale, workspace.vMean, out],
        [Math.ceil(dims.seqQ / schedule.blockM), dims.batch * dims.heads],
        timestampWrites,
      );
    },
  };
}
