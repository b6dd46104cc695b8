// Inputs in Float32Arrays over a SharedArrayBuffer (what workers and WebAssembly memories hand over) work on every
// backend like plain ones: the same output bit for bit, the shared arrays untouched. The CUDA runtime's side (private
// copies for the addon, downloads into shared arrays) is tested without a GPU in
// packages/cuda-runtime/src/runtime-shared-arrays.test.ts; where CUDA loads, this file runs it too.
import { flashInt8Attention } from '@qattn/flash-int8';
import { createKVCache } from '@qattn/kv-cache';
import { generateInputs } from '@qattn/reference';
import { turboAttention, turboDecode } from '@qattn/turbo-attn';
import { gpuForTests } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { type Backend, probeBackends, sharedCopy } from '../src/index.js';

const { context } = await gpuForTests();
const probe = await probeBackends(context ? ['cpu', 'webgpu', 'cuda'] : ['cpu', 'cuda']);

/** Bit-for-bit equality (−0 and NaN payloads included), naming the first difference. */
function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const index = a.findIndex((bits, i) => bits !== e[i]);
  expect(index, `${what}: first differing element`).toBe(-1);
}

const shape = { batch: 2, heads: 4, kvHeads: 2, seqQ: 19, seqKV: 45, headDim: 64 };
const plain = generateInputs(shape, { kind: 'llm', seed: 21 });
const algorithms = [
  ['flashInt8Attention', flashInt8Attention],
  ['turboAttention', turboAttention],
] as const;

describe.each(probe.available)('SharedArrayBuffer-backed inputs on %s', (backend: Backend) => {
  for (const [name, run] of algorithms) {
    it(`${name}: the same output as from plain arrays, the shared inputs untouched`, async () => {
      const shared = { q: sharedCopy(plain.q), k: sharedCopy(plain.k), v: sharedCopy(plain.v) };
      const expected = await run(plain.q, plain.k, plain.v, shape, { backend, causal: true });
      const actual = await run(shared.q, shared.k, shared.v, shape, { backend, causal: true });
      expectSameBits(actual, expected, name);
      expectSameBits(shared.q, plain.q, 'q');
      expectSameBits(shared.k, plain.k, 'k');
      expectSameBits(shared.v, plain.v, 'v');
    });
  }

  it('KVCache.append (every sequence, and one with { sequence }) and turboDecode take shared arrays like plain ones', async () => {
    const { batch, kvHeads, headDim, heads } = shape;
    const steps = generateInputs({ ...shape, seqQ: 1, seqKV: 1 }, { kind: 'llm', seed: 22 });
    const perSequence = plain.k.length / batch;
    const decodeWith = async (wrap: (x: Float32Array) => Float32Array) => {
      const cache = await createKVCache({ batch, kvHeads, headDim, backend });
      try {
        await cache.append(wrap(plain.k), wrap(plain.v));
        await cache.append(wrap(plain.k.subarray(0, perSequence)), wrap(plain.v.subarray(0, perSequence)), { sequence: 1 });
        await cache.append(wrap(steps.k), wrap(steps.v));
        const q = wrap(steps.q);
        const out = await turboDecode(q, cache, { heads });
        const read = await cache.readAsync(1);
        return { out, read, q };
      } finally {
        cache.dispose();
      }
    };
    const expected = await decodeWith((x) => x.slice());
    const actual = await decodeWith(sharedCopy);
    expectSameBits(actual.out, expected.out, 'turboDecode output');
    expectSameBits(actual.read.k, expected.read.k, 'cache K of sequence 1');
    expectSameBits(actual.read.v, expected.read.v, 'cache V of sequence 1');
    expectSameBits(actual.q, steps.q, 'the shared q');
  });
});
