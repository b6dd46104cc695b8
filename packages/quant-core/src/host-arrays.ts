/**
 * True when `view` lies over a SharedArrayBuffer (or any buffer that is not a plain ArrayBuffer). Compares the
 * buffer's tag rather than using `instanceof`, which fails for buffers from another realm (a worker, an iframe).
 */
export function isSharedView(view: ArrayBufferView): boolean {
  return Object.prototype.toString.call(view.buffer) !== '[object ArrayBuffer]';
}

/** A view known to lie over a plain ArrayBuffer: what `queue.writeBuffer`'s `BufferSource` type asks for. */
export type UnsharedView<T extends ArrayBufferView> = T & { readonly buffer: ArrayBuffer };

/**
 * `view` itself when it lies over a plain ArrayBuffer; otherwise a copy of its bytes in a new ArrayBuffer, as the same
 * kind of view. Device uploads go through it: the CUDA addon (node-addon-api's `ArrayBuffer::Data()`) refuses
 * SharedArrayBuffer-backed views and Dawn's `queue.writeBuffer` in Node crashes the process on them, yet callers hand
 * them in from workers and WebAssembly memories. The copy is a snapshot, so another thread writing the shared memory
 * meanwhile cannot tear an upload; the caller's array is only read.
 *
 * @example
 * queue.writeBuffer(buffer, 0, unsharedView(q)); // q may be a Float32Array over a SharedArrayBuffer
 */
export function unsharedView<T extends ArrayBufferView>(view: T): UnsharedView<T> {
  if (!isSharedView(view)) return view as UnsharedView<T>;
  const bytes = new Uint8Array(view.byteLength);
  bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  if (view instanceof DataView) return new DataView(bytes.buffer) as unknown as UnsharedView<T>;
  const TypedArray = view.constructor as new (buffer: ArrayBuffer) => UnsharedView<T>;
  return new TypedArray(bytes.buffer);
}

/**
 * Copies the bytes of `source` into `target` (views of equal byte length, any element types): how a download that
 * went through an {@link unsharedView} staging copy lands in the caller's shared array.
 */
export function copyViewBytes(target: ArrayBufferView, source: ArrayBufferView): void {
  new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
}
