import { acquireGpu, type GpuContext } from './device.js';

/**
 * Whether this environment demands a WebGPU adapter: CI (`CI=true`) or `QATTN_EXPECT_WEBGPU=1`. There a missing
 * adapter fails the WebGPU test suites instead of skipping them, so a broken driver install can never pass CI silently.
 */
export function webGpuRequired(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  return env.CI === 'true' || env.QATTN_EXPECT_WEBGPU === '1';
}

/**
 * Acquires the shared device for a test suite, or returns why there is none (only when {@link webGpuRequired} is
 * false; otherwise the error is thrown). Logs which adapter the tests run on, or that they are skipped.
 *
 * @example
 * const { context } = await gpuForTests();
 * describe.skipIf(!context)('my kernel on WebGPU', () => { ... });
 */
export async function gpuForTests(): Promise<{ context?: GpuContext; skipReason?: string }> {
  try {
    const context = await acquireGpu();
    const { adapter, capabilities } = context;
    console.info(
      `webgpu tests on: ${adapter.description || adapter.device || adapter.vendor} (packedDot4: ${capabilities.packedDot4}, shader-f16: ${capabilities.shaderF16})`,
    );
    return { context };
  } catch (err) {
    if (webGpuRequired()) throw err;
    console.warn(`webgpu tests skipped (set QATTN_EXPECT_WEBGPU=1 to make this an error): ${(err as Error).message}`);
    return { skipReason: (err as Error).message };
  }
}
