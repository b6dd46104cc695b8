import { describe, expect, it } from 'vitest';
import { copyViewBytes, isSharedView, unsharedView } from './host-arrays.js';

/** `values` in a Float32Array over a SharedArrayBuffer, `offset` elements into it. */
function sharedFloats(values: number[], offset = 0): Float32Array {
  const view = new Float32Array(new SharedArrayBuffer((values.length + offset + 1) * 4), offset * 4, values.length);
  view.set(values);
  return view;
}

describe('unsharedView', () => {
  it('returns a view over a plain ArrayBuffer unchanged (no copy)', () => {
    const plain = new Float32Array([1, 2, 3]);
    expect(isSharedView(plain)).toBe(false);
    expect(unsharedView(plain)).toBe(plain);
    const sub = plain.subarray(1);
    expect(unsharedView(sub)).toBe(sub);
  });

  it('copies a SharedArrayBuffer-backed view at an offset into a plain one of the same type, values bit for bit', () => {
    const shared = sharedFloats([1.5, -0, 3e38, 1e-40], 3);
    expect(isSharedView(shared)).toBe(true);
    const copy = unsharedView(shared);
    expect(copy).toBeInstanceOf(Float32Array);
    expect(isSharedView(copy)).toBe(false);
    expect(copy.byteOffset).toBe(0);
    expect(copy.length).toBe(4);
    expect(Array.from(copy).every((x, i) => Object.is(x, shared[i]))).toBe(true);
    copy[0] = 9;
    expect(shared[0]).toBe(1.5);
  });

  it('keeps the element type of integer views and DataViews', () => {
    const ints = new Int32Array(new SharedArrayBuffer(12));
    ints.set([-1, 2, 3]);
    const copiedInts = unsharedView(ints);
    expect(copiedInts).toBeInstanceOf(Int32Array);
    expect(Array.from(copiedInts)).toEqual([-1, 2, 3]);
    const data = new DataView(new SharedArrayBuffer(8), 4, 4);
    data.setUint32(0, 0xdeadbeef);
    const copiedData = unsharedView(data);
    expect(copiedData).toBeInstanceOf(DataView);
    expect(isSharedView(copiedData)).toBe(false);
    expect(copiedData.getUint32(0)).toBe(0xdeadbeef);
  });
});

describe('copyViewBytes', () => {
  it('writes the bytes of a plain view into a shared one at its offset, and nothing around it', () => {
    const target = sharedFloats([0, 0, 0], 1);
    const whole = new Float32Array(target.buffer);
    whole.fill(7);
    copyViewBytes(target, new Float32Array([1, -0, 2]));
    expect(Array.from(whole)).toEqual([7, 1, -0, 2, 7]);
    expect(Object.is(target[1], -0)).toBe(true);
  });
});
