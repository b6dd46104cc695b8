// A WebGPU device lost in the middle of a call (device.destroy() on the software adapter, right after the call's
// first writeBuffer or its queue.submit): the call rejects with ERR_QATTN_DEVICE saying the device was lost, and the
// next call runs on a fresh device with the same result as before the loss. A KV cache lives on its device: it fails
// the same way for good, and a new cache gets the fresh device.
import { flashInt8Attention } from '@qattn/flash-int8';
import { type KVCache, createKVCache } from '@qattn/kv-cache';
import { isQattnError } from '@qattn/quant-core';
import { generateInputs } from '@qattn/reference';
import { turboAttention, turboDecode } from '@qattn/turbo-attn';
import { acquireGpu, type GpuContext, gpuForTests } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';

const { context: initial } = await gpuForTests();

type QueueMethod = 'writeBuffer' | 'submit';

/** Destroys the device right after the next call of `method` on its queue (once), as a driver reset would. */
function loseDeviceAfterNext(context: GpuContext, method: QueueMethod): void {
  const queue = context.device.queue as unknown as Record<QueueMethod, (...args: unknown[]) => undefined>;
  const original = queue[method];
  queue[method] = function (this: GPUQueue, ...args: unknown[]) {
    const result = original.apply(this, args);
    queue[method] = original;
    context.device.destroy();
    return result;
  };
}

/** The rejection every lost-device call must give: ERR_QATTN_DEVICE naming the operation and the loss. */
function lostDevice(operation: RegExp): (err: unknown) => boolean {
  return (err) => isQattnError(err, 'ERR_QATTN_DEVICE') && operation.test((err as Error).message) && /device was lost/.test((err as Error).message);
}

const shape = { batch: 1, heads: 4, kvHeads: 2, seqQ: 33, seqKV: 70, headDim: 64 };
const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 12 });
const algorithms = [
  ['flashInt8Attention', flashInt8Attention],
  ['turboAttention', turboAttention],
] as const;

describe.skipIf(!initial)('webgpu device lost in the middle of a call', () => {
  for (const [name, run] of algorithms) {
    for (const method of ['writeBuffer', 'submit'] as const) {
      it(`${name}: lost after its ${method} → ERR_QATTN_DEVICE, then the next call gets a fresh device and the same output`, async () => {
        const before = await run(q, k, v, shape, { backend: 'webgpu', causal: true });
        const lost = await acquireGpu();
        loseDeviceAfterNext(lost, method);
        await expect(run(q, k, v, shape, { backend: 'webgpu', causal: true })).rejects.toSatisfy(lostDevice(new RegExp(`${name} \\(webgpu\\)`)));
        expect(lost.lostReason).toMatch(/destroyed/);
        const after = await run(q, k, v, shape, { backend: 'webgpu', causal: true });
        expect(await acquireGpu()).not.toBe(lost);
        expect(Array.from(after)).toEqual(Array.from(before));
      });
    }

    it(`${name}: lost between calls, before the loss is reported → the next call answers correctly on a fresh device`, async () => {
      const before = await run(q, k, v, shape, { backend: 'webgpu' });
      const lost = await acquireGpu();
      lost.device.destroy();
      // Whether or not the loss has been reported when the call starts, it must not answer from the dead device.
      const outcome = await run(q, k, v, shape, { backend: 'webgpu' }).then(
        (out) => ({ out }),
        (error: unknown) => ({ error }),
      );
      if ('error' in outcome) expect(outcome.error).toSatisfy(lostDevice(new RegExp(name)));
      else expect(Array.from(outcome.out)).toEqual(Array.from(before));
      expect(Array.from(await run(q, k, v, shape, { backend: 'webgpu' }))).toEqual(Array.from(before));
    });
  }

  it('turboDecode over a webgpu cache: lost after its submit → ERR_QATTN_DEVICE; the cache stays dead; a new cache gets a fresh device', async () => {
    const step = generateInputs({ ...shape, seqQ: 1, seqKV: 1 }, { kind: 'llm', seed: 13 });
    const fill = async (cache: KVCache) => {
      await cache.append(k, v);
      await cache.append(step.k, step.v);
      return cache;
    };
    const first = await fill(await createKVCache({ batch: 1, kvHeads: 2, headDim: 64, backend: 'webgpu' }));
    const before = await turboDecode(step.q, first);
    const lost = await acquireGpu();
    loseDeviceAfterNext(lost, 'submit');
    await expect(turboDecode(step.q, first)).rejects.toSatisfy(lostDevice(/turboDecode/));
    // Its pages were in the lost device's memory: every later use fails the same way instead of reading garbage.
    await expect(turboDecode(step.q, first)).rejects.toSatisfy(lostDevice(/turboDecode/));
    await expect((async () => first.append(step.k, step.v))()).rejects.toSatisfy(lostDevice(/KVCache.append/));
    first.dispose();
    const second = await fill(await createKVCache({ batch: 1, kvHeads: 2, headDim: 64, backend: 'webgpu' }));
    expect((second as KVCache & { context: GpuContext }).context).not.toBe(lost);
    expect(Array.from(await turboDecode(step.q, second))).toEqual(Array.from(before));
    second.dispose();
  });
});
