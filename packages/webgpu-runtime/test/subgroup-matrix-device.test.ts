import { afterEach, describe, expect, it } from 'vitest';
import { acquireGpu, gpuForTests, releaseGpu, SUBGROUP_MATRIX_FEATURE, subgroupMatrixRequested } from '../src/index.js';

const { context: initial } = await gpuForTests();

afterEach(() => {
  delete process.env.QATTN_WEBGPU_SUBGROUP_MATRIX;
});

describe('the subgroup-matrix opt-in', () => {
  it('is QATTN_WEBGPU_SUBGROUP_MATRIX=1 and nothing else', () => {
    expect(subgroupMatrixRequested()).toBe(false);
    process.env.QATTN_WEBGPU_SUBGROUP_MATRIX = 'true';
    expect(subgroupMatrixRequested()).toBe(false);
    process.env.QATTN_WEBGPU_SUBGROUP_MATRIX = '1';
    expect(subgroupMatrixRequested()).toBe(true);
  });
});

describe.skipIf(!initial)('subgroup sizes and matrix configurations of the acquired device', () => {
  it('reports the adapter’s subgroup sizes, and no matrix configurations without the feature', async () => {
    const context = await acquireGpu();
    const info = context.device.adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    expect(context.subgroupInfo.minSize).toBe(info.subgroupMinSize ?? 0);
    expect(context.subgroupInfo.maxSize).toBe(info.subgroupMaxSize ?? 0);
    // Not requested: never on the device, whatever the adapter offers.
    expect(context.capabilities.subgroupMatrix).toBe(false);
    expect(context.device.features.has(SUBGROUP_MATRIX_FEATURE)).toBe(false);
    expect(context.subgroupInfo.matrixConfigs).toEqual([]);
  });

  it('requests the feature when asked, where the adapter offers it, with the configurations as plain data', async () => {
    await releaseGpu();
    const context = await acquireGpu({ subgroupMatrix: true });
    expect(context.capabilities.subgroupMatrix).toBe(context.device.features.has(SUBGROUP_MATRIX_FEATURE));
    if (context.capabilities.subgroupMatrix) {
      expect(context.subgroupInfo.matrixConfigs.length).toBeGreaterThan(0);
      for (const config of context.subgroupInfo.matrixConfigs) expect(Object.keys(config).sort()).toEqual(['K', 'M', 'N', 'componentType', 'resultComponentType']);
    } else {
      expect(context.subgroupInfo.matrixConfigs).toEqual([]);
    }
    await releaseGpu();
  });
});
