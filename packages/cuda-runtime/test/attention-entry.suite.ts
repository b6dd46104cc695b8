// The checks every kernel package's CUDA entry points owe alike, written once against {it} (vitest here, node:test on
// GPU hosts): the device-resident entry agrees with the typed-array one bit for bit, and repeated calls of one shape
// reuse one cached plan, and nothing stays on the device once the plan caches are released. Each package's
// cuda.suite.ts calls defineAttentionEntryChecks with its own entry points and keeps what differs (its options, its
// unsupported cases).
import assert from 'node:assert/strict';
import type { AttentionShape } from '@qattn/quant-core';
// Through the package name (self-reference), not ../src: the kernel packages import its dist, and one runtime (one
// module instance) must serve both sides of each check.
import { type DeviceTensor, getCudaRuntime } from '@qattn/cuda-runtime';

type Fn = () => void | Promise<void>;

/** A kernel package's two CUDA entry points and its input generator (@qattn/reference's generateInputs). */
export interface AttentionEntrySubject {
  attention(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape, options: { causal: boolean; backend: 'cuda' }): Promise<Float32Array>;
  attentionDevice(q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, shape: AttentionShape, options: { causal: boolean }): Promise<DeviceTensor>;
  inputs(shape: AttentionShape, seed: number): { q: Float32Array; k: Float32Array; v: Float32Array };
  /** Head dim of the cached-plan check (a kernel the package has). */
  planHeadDim: number;
  /** A typed-array call of `shape` the package rejects (an option or size without a kernel). */
  unsupportedCall(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<unknown>;
  /** One run of the package's CUDA benchmark hook on `shape` (asserting what it reports). */
  benchmark(shape: AttentionShape): Promise<void>;
}

export function defineAttentionEntryChecks(it: (name: string, fn: Fn) => unknown, subject: AttentionEntrySubject): void {
  it('the device-resident entry equals the typed-array entry bit for bit', async () => {
    const rt = getCudaRuntime();
    const shape = { batch: 1, heads: 4, kvHeads: 1, seqQ: 77, seqKV: 150, headDim: 64 };
    const { q, k, v } = subject.inputs(shape, 5);
    const expected = await subject.attention(q, k, v, shape, { causal: true, backend: 'cuda' });
    const [qd, kd, vd] = await Promise.all([
      rt.upload(q, 'float32', [1, 4, 77, 64]),
      rt.upload(k, 'float32', [1, 1, 150, 64]),
      rt.upload(v, 'float32', [1, 1, 150, 64]),
    ]);
    const out = await subject.attentionDevice(qd, kd, vd, shape, { causal: true });
    assert.deepEqual(await out.download(), expected);
    for (const t of [qd, kd, vd, out]) t.dispose();
  });

  it('repeated calls reuse one cached plan and agree bit for bit', async () => {
    const shape = { batch: 1, heads: 2, seqQ: 96, seqKV: 130, headDim: subject.planHeadDim };
    const { q, k, v } = subject.inputs(shape, 9);
    const first = await subject.attention(q, k, v, shape, { causal: true, backend: 'cuda' });
    const rt = getCudaRuntime();
    const live = rt.liveBuffers();
    const again = await Promise.all([1, 2, 3].map(() => subject.attention(q, k, v, shape, { causal: true, backend: 'cuda' })));
    assert.equal(rt.liveBuffers(), live, 'no new device buffer for a cached shape');
    for (const out of again) assert.deepEqual(out, first);
  });

  it('leaves no live device buffer behind once the plan caches are released, also after failed calls', async () => {
    const rt = getCudaRuntime();
    await rt.releaseCaches();
    const before = rt.liveBuffers();
    const shape = { batch: 1, heads: 2, seqQ: 64, seqKV: 64, headDim: 128 };
    const { q, k, v } = subject.inputs(shape, 3);
    for (let i = 0; i < 3; i++) await subject.attention(q, k, v, shape, { causal: false, backend: 'cuda' });
    await assert.rejects(subject.unsupportedCall(q, k, v, shape));
    await subject.benchmark(shape);
    assert.ok(rt.liveBuffers() > before, 'the typed-array calls keep their plan (workspace and inputs) cached');
    await rt.releaseCaches();
    assert.equal(rt.liveBuffers(), before);
  });
}
