// The generic attention plan and runner against a recording fake runtime and binding: what gets allocated, packed,
// submitted and freed. Runs without a GPU; the kernels themselves are tested by the kernel packages' GPU suites.
import { isQattnError, resolveShape } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import {
  ATTENTION_ARGS_IO_OFFSETS,
  type AttentionArgFields,
  type AttentionKernelBinding,
  type AttentionProblem,
  AttentionRunner,
  createAttentionRunner,
} from './attention-plan.js';
import { attentionCapabilities } from './capabilities.js';
import type { CudaRuntime, SubmitJob } from './runtime.js';
import { type DeviceDType, DeviceTensor } from './tensor.js';

interface Recorder {
  live: Set<bigint>;
  allocations: number;
  submits: SubmitJob[];
  launches: Array<{ launcher: bigint; args: Uint8Array }>;
  timed: number[];
  packed: AttentionArgFields[];
}

function fakeRuntime(recorder: Recorder, computeCapability: [number, number] = [9, 0]): CudaRuntime {
  let next = 0x1000n;
  const runtime = {
    binding: { abiVersion: 1 },
    device: { name: 'fake', computeCapability },
    async empty<D extends DeviceDType>(dtype: D, dims: readonly number[]) {
      const pointer = next;
      next += 0x1000n;
      recorder.live.add(pointer);
      recorder.allocations++;
      return new DeviceTensor(runtime as unknown as CudaRuntime, pointer, dtype, [...dims]);
    },
    async upload<D extends DeviceDType>(_host: ArrayBufferView, dtype: D, dims: readonly number[]) {
      return runtime.empty(dtype, dims);
    },
    free(pointer: bigint) {
      recorder.live.delete(pointer);
    },
    async submit(job: SubmitJob) {
      recorder.submits.push(job);
      for (const { host } of job.downloads ?? []) (host as Float32Array).fill(1.5);
    },
    async launch(launcher: bigint, args: Uint8Array) {
      recorder.launches.push({ launcher, args });
    },
    async time(_launcher: bigint, args: Uint8Array, _what: string, _warmup: number, repeats: number) {
      recorder.timed.push(stagesOf(args));
      return Array.from({ length: repeats }, (_, i) => 1 + i);
    },
  };
  return runtime as unknown as CudaRuntime;
}

function fakeBinding(recorder: Recorder, overrides: Partial<AttentionKernelBinding> = {}): AttentionKernelBinding {
  const { headDims, keyBlocks } = attentionCapabilities('turbo-attn');
  return {
    abiVersion: 1,
    argsBytes: ARGS_BYTES,
    launcher: 0xabcn,
    capabilitiesEntry: 'turbo-attn',
    headDims,
    keyBlocks,
    stageQuantize: 1,
    stageAttention: 2,
    exponentExp2: 0,
    exponentSas: 1,
    layout: (shape) => ({
      seqQPad: Math.ceil(shape.seqQ / 128) * 128,
      seqKVPad: Math.ceil(shape.seqKV / 64) * 64,
      statSplits: 1,
      qInt8Bytes: 10,
      qScaleBytes: 11,
      kInt8Bytes: 12,
      kScaleBytes: 13,
      vInt8Bytes: 14,
      vFp16Bytes: 28,
      vScaleBytes: 15,
      meanBytes: 16,
      statBytes: 17,
    }),
    packArgs: (fields) => {
      recorder.packed.push(fields);
      return fakePack(fields);
    },
    archPath: () => ({ path: 'sm80' }),
    ...overrides,
  };
}

/** Bytes of the fake's argument block; `stages` sits in its last byte, the tensors at ATTENTION_ARGS_IO_OFFSETS. */
const ARGS_BYTES = 208;
const stagesOf = (args: Uint8Array) => args[ARGS_BYTES - 1];
const pointerAt = (args: Uint8Array, name: keyof typeof ATTENTION_ARGS_IO_OFFSETS) =>
  new DataView(args.buffer, args.byteOffset, args.byteLength).getBigUint64(ATTENTION_ARGS_IO_OFFSETS[name], true);

function fakePack(fields: AttentionArgFields): Uint8Array {
  const args = new Uint8Array(ARGS_BYTES);
  const view = new DataView(args.buffer);
  for (const name of ['q', 'k', 'v', 'out'] as const) view.setBigUint64(ATTENTION_ARGS_IO_OFFSETS[name], fields[name], true);
  args[ARGS_BYTES - 1] = fields.stages;
  return args;
}

const recorder = (): Recorder => ({ live: new Set(), allocations: 0, submits: [], launches: [], timed: [], packed: [] });

const problem: AttentionProblem = {
  shape: resolveShape({ batch: 1, heads: 2, kvHeads: 1, seqQ: 100, seqKV: 200, headDim: 64 }),
  scale: 0.125,
  causal: true,
  flags: {
    variant: { exponent: 'sas', sasThreshold: 12, skipSparseTiles: true, pScale: 'rowmax', pCodeMax: 127, pv: 'int8' },
    keyBlock: 64,
    qRowsPerScale: 64,
    kRowsPerScale: 64,
    vScalePerBlock: true,
    smoothK: true,
    smoothV: false,
  },
};

describe('AttentionRunner', () => {
  it('a typed-array call is one submit job (3 uploads, 1 launch, 1 download); the plan is built once per key', async () => {
    const rec = recorder();
    const runner = createAttentionRunner({ packageName: '@qattn/test', runtime: fakeRuntime(rec), binding: fakeBinding(rec) });
    const q = new Float32Array(problem.shape.qElements);
    const kv = new Float32Array(problem.shape.kvElements);
    const out = await runner.run(q, kv, kv, problem);
    expect(out.length).toBe(problem.shape.qElements);
    expect(out[0]).toBe(1.5);
    const allocations = rec.allocations;
    expect(allocations).toBe(9 + 4); // workspace + q, k, v, out
    await Promise.all([runner.run(q, kv, kv, problem), runner.run(q, kv, kv, problem)]);
    expect(rec.allocations).toBe(allocations);
    expect(rec.packed.length).toBe(1); // packed once, with the plan's own tensors
    expect(rec.submits.length).toBe(3);
    for (const job of rec.submits) {
      expect(job.uploads?.length).toBe(3);
      expect(job.launches?.map(({ launcher, args }) => [launcher, stagesOf(args)])).toEqual([[0xabcn, 3]]);
      expect(job.downloads?.length).toBe(1);
    }
    runner.plans.clear();
    expect(rec.live.size).toBe(0);
  });

  it('maps the flags and shape to the argument block', async () => {
    const rec = recorder();
    const runner = createAttentionRunner({ packageName: '@qattn/test', runtime: fakeRuntime(rec), binding: fakeBinding(rec) });
    await runner.run(new Float32Array(problem.shape.qElements), new Float32Array(problem.shape.kvElements), new Float32Array(problem.shape.kvElements), problem);
    const fields = rec.packed[0];
    expect(fields).toMatchObject({
      batch: 1,
      heads: 2,
      kvHeads: 1,
      seqQ: 100,
      seqKV: 200,
      headDim: 64,
      seqQPad: 128,
      seqKVPad: 256,
      causal: 1,
      pvFp16: 0,
      pRowmax: 1,
      smoothK: 1,
      smoothV: 0,
      pCodeMax: 127,
      keyBlock: 64,
      qRowsPerScale: 64,
      kRowsPerScale: 64,
      vScalePerBlock: 1,
      exponent: 1,
      sasThreshold: 12,
      skipSparseTiles: 1,
      stages: 3,
    });
    expect(fields.smScaleLog2).toBeCloseTo(0.125 * Math.LOG2E, 12);
    const exp2 = { ...problem, flags: { ...problem.flags, variant: { ...problem.flags.variant, exponent: 'exp2' as const } } };
    await runner.run(new Float32Array(problem.shape.qElements), new Float32Array(problem.shape.kvElements), new Float32Array(problem.shape.kvElements), exp2);
    expect(rec.packed[1]).toMatchObject({ exponent: 0, sasThreshold: 0, skipSparseTiles: 0 });
    runner.plans.clear();
  });

  it('a device call is one launch on the caller tensors and a new output; bad inputs are rejected and free nothing of theirs', async () => {
    const rec = recorder();
    const runtime = fakeRuntime(rec);
    const runner = createAttentionRunner({ packageName: '@qattn/test', runtime, binding: fakeBinding(rec) });
    const q = await runtime.empty('float32', [1, 2, 100, 64]);
    const k = await runtime.empty('float32', [1, 1, 200, 64]);
    const v = await runtime.empty('float32', [1, 1, 200, 64]);
    const out = await runner.runDevice(q, k, v, problem);
    expect(rec.launches.length).toBe(1);
    expect(rec.packed[0]).toMatchObject({ q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer, stages: 3 });
    out.dispose();
    // Later calls reuse the plan's packed block (no packArgs through Node-API) with their own tensors patched in.
    const k2 = await runtime.empty('float32', [1, 1, 200, 64]);
    const outs = [await runner.runDevice(q, k2, v, problem), await runner.runDevice(q, k, v, problem)];
    expect(rec.packed.length).toBe(1);
    expect(rec.launches.length).toBe(3);
    const [, second, third] = rec.launches.map(({ args }) => args);
    expect([pointerAt(second, 'q'), pointerAt(second, 'k'), pointerAt(second, 'v'), pointerAt(second, 'out')]).toEqual([q.pointer, k2.pointer, v.pointer, outs[0].pointer]);
    expect([pointerAt(third, 'k'), pointerAt(third, 'out'), stagesOf(third)]).toEqual([k.pointer, outs[1].pointer, 3]);
    expect(second).not.toBe(third);
    for (const t of [k2, ...outs]) t.dispose();
    const wrong = await runtime.empty('int8', [1, 2, 100, 64]);
    await expect(runner.runDevice(wrong, k, v, problem)).rejects.toSatisfy((err) => isQattnError(err, 'ERR_QATTN_DTYPE') && /q must be a float32/.test((err as Error).message));
    const short = await runtime.empty('float32', [1, 1, 199, 64]);
    await expect(runner.runDevice(q, short, v, problem)).rejects.toSatisfy((err) => isQattnError(err, 'ERR_QATTN_SHAPE') && /^k has/.test((err as Error).message));
    for (const t of [q, k, v, wrong, short]) t.dispose();
    runner.plans.clear();
    expect(rec.live.size).toBe(0);
  });

  it('benchmark times quantize + attention, quantize, attention, and frees everything it allocated', async () => {
    const rec = recorder();
    const runner = createAttentionRunner({ packageName: '@qattn/test', runtime: fakeRuntime(rec), binding: fakeBinding(rec) });
    const result = await runner.benchmark(problem, { warmup: 1, repeats: 3 });
    expect(rec.timed).toEqual([3, 1, 2]);
    expect(result).toMatchObject({ backend: 'cuda', medianMs: 2, minMs: 1, quantMs: 2, attnMs: 2, timer: 'events' });
    expect(result.peakDeviceBytes).toBeGreaterThan(0);
    expect(rec.live.size).toBe(0);
    expect(runner.plans.size).toBe(0);
  });

  it('rejects a grid the quantization kernels cannot launch with ERR_QATTN_UNSUPPORTED', async () => {
    const rec = recorder();
    const runner = createAttentionRunner({ packageName: '@qattn/test', runtime: fakeRuntime(rec), binding: fakeBinding(rec) });
    const huge = { ...problem, shape: resolveShape({ batch: 1024, heads: 128, seqQ: 1, seqKV: 1, headDim: 64 }) };
    await expect(runner.run(new Float32Array(0), new Float32Array(0), new Float32Array(0), huge)).rejects.toSatisfy((err) =>
      isQattnError(err, 'ERR_QATTN_UNSUPPORTED'),
    );
  });
});

describe('createAttentionRunner', () => {
  const unavailable = (fn: () => unknown, pattern: RegExp) => {
    try {
      fn();
    } catch (err) {
      expect(isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toMatch(pattern);
      return;
    }
    throw new Error('expected ERR_QATTN_BACKEND_UNAVAILABLE');
  };

  it('returns a runner for a matching addon and device', () => {
    const rec = recorder();
    expect(createAttentionRunner({ packageName: '@qattn/test', runtime: fakeRuntime(rec), binding: fakeBinding(rec) })).toBeInstanceOf(AttentionRunner);
  });

  it('refuses an addon of another launch ABI, a stale build, and a device arch dispatch has no kernel for', () => {
    const rec = recorder();
    const runtime = fakeRuntime(rec);
    unavailable(() => createAttentionRunner({ packageName: '@qattn/test', runtime, binding: fakeBinding(rec, { abiVersion: 2 }) }), /launch ABI 2/);
    unavailable(() => createAttentionRunner({ packageName: '@qattn/test', runtime, binding: fakeBinding(rec, { headDims: [64] }) }), /rebuild it/);
    unavailable(
      () =>
        createAttentionRunner({
          packageName: '@qattn/test',
          runtime: fakeRuntime(rec, [7, 5]),
          binding: fakeBinding(rec, { archPath: () => ({ path: 'sm80', error: 'needs compute capability >= 8.0' }) }),
        }),
      /compute capability >= 8\.0.*7\.5/,
    );
  });
});
