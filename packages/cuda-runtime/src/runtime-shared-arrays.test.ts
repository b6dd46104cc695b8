// CudaRuntime's host side with SharedArrayBuffer-backed arrays, against a fake binding that behaves like the addon:
// it refuses shared views exactly as node-addon-api's ArrayBuffer::Data() does ("Invalid argument"), so every test
// here fails unless the runtime hands it private copies. Runs without a GPU; runtime.suite.ts repeats the round trip
// on a device.
import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import type { Binding, NativeSubmitJob } from './binding.js';
import { CudaRuntime, type SubmitJob } from './runtime.js';

/** Device memory of the fake: one byte array per live allocation. */
interface FakeDevice {
  memory: Map<bigint, Uint8Array>;
  /** Host views the binding received, to check none of them was shared. */
  seen: ArrayBufferView[];
  /** Fail the next submit at its first launch (uploads done, downloads skipped), like a kernel error. */
  failNextLaunch: boolean;
}

function hostBytes(device: FakeDevice, host: ArrayBufferView): Uint8Array {
  device.seen.push(host);
  if (Object.prototype.toString.call(host.buffer) !== '[object ArrayBuffer]') throw new Error('Invalid argument');
  return new Uint8Array(host.buffer, host.byteOffset, host.byteLength);
}

function fakeBinding(device: FakeDevice): Binding {
  let next = 0x1000n;
  const at = (pointer: bigint) => {
    const bytes = device.memory.get(pointer);
    if (!bytes) throw new Error(`${pointer} is not a live allocation`);
    return bytes;
  };
  const binding: Partial<Binding> = {
    abiVersion: 1,
    async alloc(bytes: number) {
      const pointer = next;
      next += 0x1000n;
      device.memory.set(pointer, new Uint8Array(bytes));
      return pointer;
    },
    free: (pointer: bigint) => device.memory.delete(pointer),
    async upload(pointer: bigint, host: ArrayBufferView) {
      at(pointer).set(hostBytes(device, host));
    },
    async download(pointer: bigint, host: ArrayBufferView) {
      hostBytes(device, host).set(at(pointer));
    },
    async submit(job: NativeSubmitJob) {
      // The addon checks every host array before it enqueues anything.
      const uploads = job.uploads.map(({ pointer, host }) => ({ device: at(pointer), host: hostBytes(device, host) }));
      const downloads = job.downloads.map(({ pointer, host }) => ({ device: at(pointer), host: hostBytes(device, host) }));
      for (const { device: target, host } of uploads) target.set(host);
      if (job.launches.length > 0 && device.failNextLaunch) {
        device.failNextLaunch = false;
        throw Object.assign(new Error('launch 1 of 1: an illegal memory access was encountered'), { cudaStatus: 700 });
      }
      for (const { device: source, host } of downloads) host.set(source);
    },
    liveBuffers: () => device.memory.size,
  };
  return binding as Binding;
}

function runtimeWithFake(): { runtime: CudaRuntime; device: FakeDevice } {
  const device: FakeDevice = { memory: new Map(), seen: [], failNextLaunch: false };
  const info = {
    name: 'fake',
    computeCapability: [9, 0] as [number, number],
    multiProcessorCount: 1,
    totalGlobalMem: 0,
    sharedMemPerBlockOptin: 0,
    l2CacheSize: 0,
    runtimeVersion: 13000,
    driverVersion: 13000,
  };
  return { runtime: new CudaRuntime(fakeBinding(device), info), device };
}

/** A Float32Array over a SharedArrayBuffer, `offset` elements into it (so byteOffset handling is tested too). */
function sharedFloats(values: ArrayLike<number>, offset = 2): Float32Array {
  const view = new Float32Array(new SharedArrayBuffer((values.length + offset + 3) * 4), offset * 4, values.length);
  view.set(values);
  return view;
}

const isShared = (view: ArrayBufferView) => Object.prototype.toString.call(view.buffer) !== '[object ArrayBuffer]';
const values = Float32Array.from({ length: 37 }, (_, i) => (i % 5 === 0 ? -0 : Math.sin(i) * 10 ** (i % 7)));

describe('CudaRuntime with SharedArrayBuffer-backed host arrays', () => {
  it('the fake binding refuses a shared view the way the addon does (the tests below would catch a missing copy)', async () => {
    const { runtime } = runtimeWithFake();
    const tensor = await runtime.empty('float32', [values.length]);
    await expect(runtime.binding.upload(tensor.pointer, sharedFloats(values))).rejects.toThrow('Invalid argument');
  });

  it('upload() and download() accept shared arrays: bit-exact round trip, the binding sees only private copies', async () => {
    const { runtime, device } = runtimeWithFake();
    const input = sharedFloats(values);
    const tensor = await runtime.upload(input, 'float32', [values.length]);
    const output = sharedFloats(new Float32Array(values.length).fill(Number.NaN), 5);
    await runtime.download(tensor, output);
    expect(Array.from(output).every((x, i) => Object.is(x, values[i]))).toBe(true);
    expect(Array.from(input).every((x, i) => Object.is(x, values[i]))).toBe(true);
    expect(device.seen.some(isShared)).toBe(false);
    tensor.dispose();
    expect(runtime.liveBuffers()).toBe(0);
  });

  it('submit() uploads shared arrays and lands its downloads in shared arrays, next to plain ones', async () => {
    const { runtime, device } = runtimeWithFake();
    const a = await runtime.empty('float32', [values.length]);
    const b = await runtime.empty('int32', [3]);
    const input = sharedFloats(values);
    const plainInts = new Int32Array([7, -8, 9]);
    const sharedOut = sharedFloats(new Float32Array(values.length), 1);
    const plainOut = new Int32Array(3);
    const job: SubmitJob = {
      uploads: [
        { tensor: a, host: input },
        { tensor: b, host: plainInts },
      ],
      downloads: [
        { tensor: a, host: sharedOut },
        { tensor: b, host: plainOut },
      ],
    };
    await runtime.submit(job, 'shared round trip');
    expect(Array.from(sharedOut).every((x, i) => Object.is(x, values[i]))).toBe(true);
    expect(Array.from(plainOut)).toEqual([7, -8, 9]);
    // A plain array goes to the binding as is (no copy on the common path).
    expect(device.seen).toContain(plainInts);
    expect(device.seen).toContain(plainOut);
    expect(device.seen.some(isShared)).toBe(false);
    expect(Array.from(input).every((x, i) => Object.is(x, values[i]))).toBe(true);
  });

  it('a failing job rejects with ERR_QATTN_DEVICE and leaves a shared download target untouched', async () => {
    const { runtime, device } = runtimeWithFake();
    const a = await runtime.empty('float32', [values.length]);
    const target = sharedFloats(new Float32Array(values.length).fill(4.25));
    device.failNextLaunch = true;
    await expect(
      runtime.submit({ uploads: [{ tensor: a, host: sharedFloats(values) }], launches: [{ launcher: 1n, args: new Uint8Array(8) }], downloads: [{ tensor: a, host: target }] }, 'failing job'),
    ).rejects.toSatisfy((err: unknown) => isQattnError(err, 'ERR_QATTN_DEVICE') && /failing job: launch 1 of 1/.test((err as Error).message));
    expect(Array.from(target).every((x) => x === 4.25)).toBe(true);
  });

  it('a shared host array of the wrong size is still ERR_QATTN_SHAPE, before anything is submitted', async () => {
    const { runtime } = runtimeWithFake();
    const a = await runtime.empty('float32', [4]);
    await expect(runtime.submit({ uploads: [{ tensor: a, host: sharedFloats([1, 2, 3]) }] }, 'short')).rejects.toSatisfy((err: unknown) =>
      isQattnError(err, 'ERR_QATTN_SHAPE'),
    );
  });
});
