import { acquireGpu, type GpuContext } from '@qattn/webgpu-runtime';

/**
 * CI (CI=true) and QATTN_EXPECT_WEBGPU=1 demand an adapter: there a missing one fails the run instead of skipping
 * the WebGPU tests, so a broken driver install can never pass CI silently. Elsewhere the tests skip, saying why.
 */
export const webGpuRequired = process.env.CI === 'true' || process.env.QATTN_EXPECT_WEBGPU === '1';

/** Acquires the shared device for a test file, or returns why there is none (only when not {@link webGpuRequired}). */
export async function gpuForTests(): Promise<{ context?: GpuContext; skipReason?: string }> {
  try {
    const context = await acquireGpu();
    console.info(`webgpu tests on: ${context.adapter.description || context.adapter.device || context.adapter.vendor} (packedDot4: ${context.capabilities.packedDot4}, shader-f16: ${context.capabilities.shaderF16})`);
    return { context };
  } catch (err) {
    if (webGpuRequired) throw err;
    console.warn(`webgpu tests skipped (set QATTN_EXPECT_WEBGPU=1 to make this an error): ${(err as Error).message}`);
    return { skipReason: (err as Error).message };
  }
}
