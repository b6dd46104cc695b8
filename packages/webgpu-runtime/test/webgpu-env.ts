import { acquireGpu, type GpuContext } from '../src/index.js';

/**
 * CI (CI=true) and QATTN_EXPECT_WEBGPU=1 demand an adapter: there a missing one fails the run instead of skipping
 * the WebGPU tests, so a broken driver install can never pass CI silently.
 */
export const webGpuRequired = process.env.CI === 'true' || process.env.QATTN_EXPECT_WEBGPU === '1';

/** The shared context, or the reason there is none (only when {@link webGpuRequired} is false). */
export async function gpuOrSkipReason(): Promise<{ context?: GpuContext; skipReason?: string }> {
  try {
    return { context: await acquireGpu() };
  } catch (err) {
    if (webGpuRequired) throw err;
    return { skipReason: (err as Error).message };
  }
}
