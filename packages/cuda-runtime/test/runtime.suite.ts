// Runtime tests written against {describe, it} so they run under vitest here and under node:test on GPU hosts
// (bundled into .gpu/ by apps/bench/gpu/stage.sh). Assertions use node:assert.
import assert from 'node:assert/strict';
import { isQattnError } from '@qattn/quant-core';
import { type CudaRuntime, type DeviceTensor, PlanCache, cudaAvailability, getCudaRuntime, loadAddon } from '../src/index.js';

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

/** `count` float32 values that identify round `round` (distinct in every element and every round). */
function roundData(round: number, count: number): Float32Array {
  return Float32Array.from({ length: count }, (_, j) => round * count + j);
}

/** Equal element by element; on failure names the first differing index (a full diff of large arrays is slow). */
function assertSameData(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

/** A plan of the device tests: device tensors that the cache disposes. */
class TensorPlan {
  constructor(readonly tensors: DeviceTensor[]) {}
  get bytes(): number {
    return this.tensors.reduce((sum, t) => sum + t.byteLength, 0);
  }
  dispose(): void {
    for (const tensor of this.tensors) tensor.dispose();
  }
  static async allocate(rt: CudaRuntime, count: number, elements: number): Promise<TensorPlan> {
    const tensors: DeviceTensor[] = [];
    for (let i = 0; i < count; i++) tensors.push(await rt.empty('float32', [elements]));
    return new TensorPlan(tensors);
  }
}

/** Rejection test: an ERR_QATTN_DEVICE whose message matches every pattern. */
function deviceFailure(...patterns: RegExp[]): (err: unknown) => boolean {
  return (err: unknown) => isQattnError(err, 'ERR_QATTN_DEVICE') && patterns.every((pattern) => pattern.test((err as Error).message));
}

export function defineRuntimeSuite({ describe, it }: TestApi): void {
  describe('cuda-runtime without a device or addon', () => {
    it('a missing addon throws ERR_QATTN_BACKEND_UNAVAILABLE naming the build command', () => {
      assert.throws(
        () => loadAddon('/nonexistent', 'x.node', '@qattn/cuda-runtime', 'QATTN_TEST_UNSET_ADDON'),
        (err: unknown) => isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE') && /`npx qattn-build-cuda @qattn\/cuda-runtime`/.test((err as Error).message),
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
    it('uploads from and downloads into SharedArrayBuffer-backed arrays (upload, download, submit), the inputs untouched', async () => {
      const rt = getCudaRuntime();
      const values = Float32Array.from({ length: 1000 }, (_, i) => Math.cos(i) * 1e3);
      const shared = (from: Float32Array) => {
        const view = new Float32Array(new SharedArrayBuffer((from.length + 3) * 4), 4, from.length);
        view.set(from);
        return view;
      };
      const input = shared(values);
      const t = await rt.upload(input, 'float32', [values.length]);
      const out = shared(new Float32Array(values.length));
      await rt.download(t, out);
      assertSameData(out, values, 'download into a shared array');
      const u = await rt.empty('float32', [values.length]);
      const submitted = shared(new Float32Array(values.length));
      await rt.submit({ uploads: [{ tensor: u, host: input }], downloads: [{ tensor: u, host: submitted }] }, 'shared submit');
      assertSameData(submitted, values, 'submit with shared arrays');
      assertSameData(input, values, 'the shared input');
      t.dispose();
      u.dispose();
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

  describe('cuda-runtime queue: stream order, event completion, submit', () => {
    it('a chain of uploads, launches and downloads issued without awaiting settles in order with correct data', async () => {
      const rt = getCudaRuntime();
      const rounds = 64;
      const count = 4096;
      const src = await rt.empty('float32', [count]);
      const dst = await rt.empty('float32', [count]);
      const settled: number[] = [];
      const pending: Promise<unknown>[] = [];
      const outputs: Float32Array[] = [];
      for (let round = 0; round < rounds; round++) {
        const host = roundData(round, count);
        const copy = rt.copyStep(dst, src);
        const out = new Float32Array(count);
        outputs.push(out);
        pending.push(rt.submit({ uploads: [{ tensor: src, host }] }, `upload ${round}`).then(() => settled.push(3 * round)));
        pending.push(rt.launch(copy.launcher, copy.args, `copy ${round}`).then(() => settled.push(3 * round + 1)));
        pending.push(rt.download(dst, out).then(() => settled.push(3 * round + 2)));
      }
      await Promise.all(pending);
      assert.deepEqual(settled, Array.from({ length: 3 * rounds }, (_, i) => i), 'promises settle in submission order');
      outputs.forEach((out, round) => assertSameData(out, roundData(round, count), `round ${round}`));
      src.dispose();
      dst.dispose();
    });

    it('copies above the pinned staging limit (pageable path) keep their order and data', async () => {
      const rt = getCudaRuntime();
      const count = 5 * 2 ** 20;
      const a = roundData(1, count);
      const b = roundData(2, count);
      const t = await rt.upload(a, 'float32', [count]);
      const first = new Float32Array(count);
      const second = new Float32Array(count);
      const reads = [rt.download(t, first), rt.submit({ uploads: [{ tensor: t, host: b }] }, 'upload b'), rt.download(t, second)];
      await Promise.all(reads);
      assertSameData(first, a, 'download before the upload');
      assertSameData(second, b, 'download after the upload');
      t.dispose();
    });

    it('submit() runs uploads, then launches, then downloads as one job', async () => {
      const rt = getCudaRuntime();
      const count = 1000;
      const x = roundData(3, count);
      const a = await rt.empty('float32', [count]);
      const b = await rt.empty('float32', [count]);
      const c = await rt.empty('float32', [count]);
      const outC = new Float32Array(count);
      const outB = new Uint8Array(b.byteLength);
      const outA = new Float32Array(count);
      await rt.submit(
        {
          uploads: [
            { tensor: a, host: x },
            { tensor: b, host: roundData(4, count) },
          ],
          launches: [rt.copyStep(c, a), rt.fillStep(b, 0x3f), rt.fillStep(a, 0)],
          downloads: [
            { tensor: c, host: outC },
            { tensor: b, host: outB },
            { tensor: a, host: outA },
          ],
        },
        'submit round trip',
      );
      assertSameData(outC, x, 'the copy saw the upload');
      assert.ok(outB.every((byte) => byte === 0x3f), 'the fill ran after the upload of b');
      assert.ok(outA.every((value) => value === 0), 'downloads ran after every launch');
      for (const t of [a, b, c]) t.dispose();
    });

    it('submit() checks every host array and tensor before submitting anything', async () => {
      const rt = getCudaRuntime();
      const t = await rt.upload(new Float32Array([1, 2, 3, 4]), 'float32', [4]);
      await assert.rejects(
        rt.submit({ uploads: [{ tensor: t, host: new Float32Array(4) }], downloads: [{ tensor: t, host: new Float32Array(3) }] }, 'bad'),
        (err: unknown) => isQattnError(err, 'ERR_QATTN_SHAPE') && /download 1 of 1/.test((err as Error).message),
      );
      assert.deepEqual(await t.download(), new Float32Array([1, 2, 3, 4]), 'the rejected job uploaded nothing');
      const gone = await rt.empty('float32', [4]);
      gone.dispose();
      await assert.rejects(rt.submit({ downloads: [{ tensor: gone, host: new Float32Array(4) }] }, 'disposed'), (err: unknown) =>
        isQattnError(err, 'ERR_QATTN_DISPOSED'),
      );
      t.dispose();
    });

    it('a failing launch rejects naming the call and the step; the jobs around it run and the runtime stays usable', async () => {
      const rt = getCudaRuntime();
      const fail = { launcher: rt.binding.builtinLaunchers.fail, args: new Uint8Array(0) };
      const count = 256;
      const t = await rt.empty('float32', [count]);
      const before = rt.submit({ uploads: [{ tensor: t, host: roundData(5, count) }] }, 'upload before');
      const failing = rt.launch(fail.launcher, fail.args, 'deliberate failure');
      const after = t.download();
      await before;
      await assert.rejects(failing, deviceFailure(/deliberate failure/, /cudaMemcpyAsync/));
      assertSameData(await after, roundData(5, count), 'download after the failure');

      const out = new Float32Array(count);
      await assert.rejects(
        rt.submit(
          { uploads: [{ tensor: t, host: roundData(6, count) }], launches: [rt.fillStep(t, 0), fail, rt.fillStep(t, 1)], downloads: [{ tensor: t, host: out }] },
          'failing submit',
        ),
        deviceFailure(/failing submit/, /launch 2 of 3/),
      );
      assert.ok((await t.download()).every((value) => value === 0), 'steps before the failure ran, steps after it did not');
      await rt.synchronize();
      const fresh = await rt.upload(roundData(7, count), 'float32', [count]);
      assertSameData(await fresh.download(), roundData(7, count), 'upload after the failures');
      fresh.dispose();
      t.dispose();
    });

    it('dispose right after a download is submitted frees the buffer only after the copy', async () => {
      const rt = getCudaRuntime();
      const count = 1 << 16;
      const t = await rt.upload(roundData(8, count), 'float32', [count]);
      const read = t.download();
      t.dispose();
      const reuse = await rt.upload(roundData(9, count), 'float32', [count]);
      assertSameData(await read, roundData(8, count), 'download submitted before dispose');
      assertSameData(await reuse.download(), roundData(9, count), 'tensor allocated after dispose');
      reuse.dispose();
    });

    it('synchronize() settles after every job submitted before it; time() still reports one sample per repeat', async () => {
      const rt = getCudaRuntime();
      const t = await rt.empty('uint8', [1 << 20]);
      let fills = 0;
      const jobs = Array.from({ length: 16 }, (_, i) => rt.fill(t, i).then(() => fills++));
      await rt.synchronize();
      assert.equal(fills, 16);
      await Promise.all(jobs);
      const step = rt.fillStep(t, 1);
      const samples = await rt.time(step.launcher, step.args, 'fill', 2, 5);
      assert.equal(samples.length, 5);
      assert.ok(samples.every((ms) => ms >= 0 && Number.isFinite(ms)), samples.join(', '));
      t.dispose();
    });

    it('reports the host round trip of one launch (printed, for the overhead budget)', async () => {
      const rt = getCudaRuntime();
      const t = await rt.empty('uint8', [256]);
      const step = rt.fillStep(t, 0);
      for (let i = 0; i < 200; i++) await rt.launch(step.launcher, step.args, 'warm-up');
      const calls = 2000;
      const started = performance.now();
      for (let i = 0; i < calls; i++) await rt.launch(step.launcher, step.args, 'round trip');
      const perCallUs = ((performance.now() - started) / calls) * 1e3;
      console.log(`cuda-runtime: launch round trip (memset of 256 bytes, awaited) ${perCallUs.toFixed(1)} µs per call`);
      assert.ok(Number.isFinite(perCallUs));
      t.dispose();
    });

    it('the stage trace times every hand-over of traced jobs, labels them, and stops when switched off (printed)', async () => {
      const rt = getCudaRuntime();
      const wasTracing = rt.tracing;
      const t = await rt.empty('uint8', [256]);
      const step = rt.fillStep(t, 0);
      try {
        rt.setTracing(true);
        rt.traceSummary();
        const calls = 500;
        for (let i = 0; i < calls; i++) await rt.launch(step.launcher, step.args, 'traced fill');
        // Above the size the runtime recycles in JS (blocks ≤ 1 MiB are kept for the next empty() of that size and
        // never reach the queue), so this free is a queued job.
        (await rt.empty('uint8', [2 << 20])).dispose();
        await rt.synchronize();
        const summary = rt.traceSummary();
        const fill = summary.labels.find((l) => l.label === 'traced fill');
        assert.ok(fill, `labels: ${summary.labels.map((l) => l.label).join(', ')}`);
        assert.equal(fill.jobs, calls);
        for (const stage of ['queue', 'enqueue', 'handoff', 'wait', 'device', 'settle', 'total'] as const) {
          const stats = fill.stages[stage];
          assert.ok(stats && stats.count === calls && stats.medianUs >= 0 && stats.p90Us >= stats.medianUs, `${stage}: ${JSON.stringify(stats)}`);
        }
        assert.ok(fill.stages.total!.medianUs >= fill.stages.wait!.medianUs);
        // A free never reaches the completion thread: it has the queue-thread stages only.
        const free = summary.labels.find((l) => l.label === 'free');
        assert.deepEqual(Object.keys(free?.stages ?? {}), ['queue', 'enqueue']);
        const line = Object.entries(fill.stages).map(([stage, s]) => `${stage} ${s.medianUs.toFixed(1)}/${s.p90Us.toFixed(1)}`);
        console.log(`cuda-runtime: trace of an awaited launch (median/p90 µs): ${line.join(', ')}`);
        rt.setTracing(false);
        await rt.launch(step.launcher, step.args, 'untraced fill');
        assert.equal(rt.traceSummary().jobs, 0);
      } finally {
        rt.setTracing(wasTracing);
        t.dispose();
      }
    });
  });

  describe('cuda-runtime plans and leaks', () => {
    it('a PlanCache of device tensors evicts (disposing) at capacity and releaseCaches() returns live buffers to baseline', async () => {
      const rt = getCudaRuntime();
      const baseline = rt.liveBuffers();
      const plans = new PlanCache<TensorPlan>({ name: 'cuda-runtime test', capacity: 2 });
      for (const key of ['a', 'b', 'c']) {
        await plans.use(key, () => TensorPlan.allocate(rt, 3, 1024), async (plan) => {
          await rt.submit({ uploads: [{ tensor: plan.tensors[0], host: roundData(1, 1024) }] }, `plan ${key}`);
        });
      }
      assert.deepEqual(plans.keys(), ['b', 'c']);
      assert.equal(rt.liveBuffers(), baseline + 6, 'the evicted plan freed its three tensors');
      await rt.releaseCaches();
      assert.equal(plans.size, 0);
      assert.equal(rt.liveBuffers(), baseline);
    });

    it('10k typed-array calls through a cached plan leak no buffer, no device memory and no host memory', async () => {
      const rt = getCudaRuntime();
      const count = 1 << 12;
      const plans = new PlanCache<TensorPlan>({ name: 'cuda-runtime leak test' });
      const input = roundData(10, count);
      const output = new Float32Array(count);
      const call = () =>
        plans.use('leak', () => TensorPlan.allocate(rt, 2, count), async (plan) => {
          const out = await rt.empty('float32', [count]);
          try {
            await rt.submit(
              {
                uploads: [{ tensor: plan.tensors[0], host: input }],
                launches: [rt.copyStep(plan.tensors[1], plan.tensors[0]), rt.copyStep(out, plan.tensors[1])],
                downloads: [{ tensor: out, host: output }],
              },
              'leak test call',
            );
          } finally {
            out.dispose();
          }
        });
      for (let i = 0; i < 100; i++) await call();
      await rt.releaseCaches();
      const baseline = { buffers: rt.liveBuffers(), device: await rt.memInfo(), rss: process.memoryUsage().rss };
      const started = performance.now();
      for (let i = 0; i < 10_000; i++) await call();
      const perCallUs = ((performance.now() - started) / 10_000) * 1e3;
      assertSameData(output, input, 'last call');
      await rt.releaseCaches();
      const device = await rt.memInfo();
      const rssGrowth = process.memoryUsage().rss - baseline.rss;
      console.log(`cuda-runtime: 10k plan-cached submit() calls, ${perCallUs.toFixed(1)} µs per call; RSS +${(rssGrowth / 2 ** 20).toFixed(1)} MiB`);
      assert.equal(rt.liveBuffers(), baseline.buffers);
      assert.ok(device.free >= baseline.device.free - 4 * 2 ** 20, `device free ${device.free} < baseline ${baseline.device.free} - 4 MiB`);
      // Coarse (the V8 heap may grow a little): the two 16 KiB pinned staging blocks of a call, leaked, would be
      // 320 MiB over 10k calls.
      assert.ok(rssGrowth < 64 * 2 ** 20, `RSS grew by ${rssGrowth} bytes`);
    });
  });
}
