// Runtime tests written against {describe, it} so they run under vitest here and under node:test on GPU hosts
// (bundled into .gpu/ by packages/flash-int8/scripts/stage-gpu.mjs). Assertions use node:assert.
import assert from 'node:assert/strict';
import { isQattnError } from '@qattn/quant-core';
import { cudaAvailability, getCudaRuntime, loadAddon } from '../src/index.js';

type Fn = () => unknown | Promise<unknown>;
export interface TestApi {
  describe: (name: string, fn: () => void) => unknown;
  it: (name: string, fn: Fn) => unknown;
}

/** True when CUDA tests must run (QATTN_EXPECT_CUDA=1) or can run (a device answers). Prints why they skip. */
export function cudaTestGate(suite: string): { run: boolean; reason: string } {
  const availability = cudaAvailability();
  if (availability.available) return { run: true, reason: '' };
  if (process.env.QATTN_EXPECT_CUDA === '1') return { run: true, reason: '' };
  const reason = `${suite}: skipping GPU tests, CUDA unavailable here (${availability.reason}); set QATTN_EXPECT_CUDA=1 to make this a failure`;
  console.warn(reason);
  return { run: false, reason };
}

export function defineRuntimeSuite({ describe, it }: TestApi): void {
  describe('cuda-runtime without a device or addon', () => {
    it('a missing addon throws ERR_QATTN_BACKEND_UNAVAILABLE naming the build command', () => {
      assert.throws(
        () => loadAddon('/nonexistent', 'x.node', '@qattn/cuda-runtime', 'QATTN_TEST_UNSET_ADDON'),
        (err: unknown) => isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE') && /pnpm --filter @qattn\/cuda-runtime build/.test((err as Error).message),
      );
    });
    it('reports availability without throwing', () => {
      const availability = cudaAvailability();
      if (!availability.available) {
        assert.match(availability.reason, /no CUDA device|addon/);
        assert.equal(process.env.QATTN_EXPECT_CUDA === '1', false, `QATTN_EXPECT_CUDA=1 but CUDA is unavailable: ${availability.reason}`);
      } else {
        assert.ok(availability.device.computeCapability[0] >= 8, `compute capability ${availability.device.computeCapability}`);
      }
    });
  });

  const gate = cudaTestGate('cuda-runtime');
  if (!gate.run) return;

  describe('cuda-runtime on a device', () => {
    it('uploads and downloads typed arrays bit-exactly', async () => {
      const rt = getCudaRuntime();
      const host = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e3);
      const t = await rt.upload(host, 'float32', [10, 100]);
      assert.deepEqual(await t.download(), host);
      t.dispose();
    });
    it('dispose is idempotent, counted, and use after dispose throws ERR_QATTN_DISPOSED', async () => {
      const rt = getCudaRuntime();
      const before = rt.liveBuffers();
      const t = await rt.empty('int8', [64]);
      assert.equal(rt.liveBuffers(), before + 1);
      t.dispose();
      t.dispose();
      assert.equal(rt.liveBuffers(), before);
      assert.throws(() => t.pointer, (err: unknown) => isQattnError(err, 'ERR_QATTN_DISPOSED'));
      await assert.rejects(t.download(), (err: unknown) => isQattnError(err, 'ERR_QATTN_DISPOSED'));
    });
    it('out-of-memory is ERR_QATTN_DEVICE naming cudaMalloc and leaves the runtime usable', async () => {
      const rt = getCudaRuntime();
      const before = rt.liveBuffers();
      await assert.rejects(rt.empty('float32', [2 ** 48]), (err: unknown) => isQattnError(err, 'ERR_QATTN_DEVICE') && /cudaMalloc/.test((err as Error).message));
      assert.equal(rt.liveBuffers(), before);
      const t = await rt.upload(new Int32Array([1, 2, 3]), 'int32', [3]);
      assert.deepEqual(await t.download(), new Int32Array([1, 2, 3]));
      t.dispose();
    });
    it('operations are stream-ordered without awaiting each one', async () => {
      const rt = getCudaRuntime();
      const t = await rt.empty('uint8', [4096]);
      const fill = rt.fill(t, 7);
      const read = t.download();
      await fill;
      assert.ok((await read).every((x) => x === 7));
      t.dispose();
    });
  });
}
