/// <reference types="@webgpu/types" />
// A live-buffer counter for a WebGPU device, which (unlike the CUDA runtime's liveBuffers()) WebGPU does not have:
// wraps the device's createBuffer so that every buffer made through it counts until its first destroy().

/** Buffers created through a tracked device and not destroyed yet, and their bytes. */
export interface BufferCounts {
  live: number;
  bytes: number;
}

/** Stops tracking (restores the device's own createBuffer); buffers already wrapped keep updating the counts. */
export interface BufferTracker {
  counts(): BufferCounts;
  stop(): void;
}

const trackers = new WeakMap<GPUDevice, BufferTracker>();

/**
 * Tracks the buffers `device` creates from now on (one tracker per device: a second call returns the first). A buffer
 * that is dropped without destroy() stays counted — on purpose: WebGPU memory freed only by garbage collection is
 * invisible to the collector's heuristics and is what a leak check must find.
 */
export function trackBuffers(device: GPUDevice): BufferTracker {
  const existing = trackers.get(device);
  if (existing) return existing;
  const counts: BufferCounts = { live: 0, bytes: 0 };
  const createBuffer = device.createBuffer;
  device.createBuffer = function trackedCreateBuffer(this: GPUDevice, descriptor: GPUBufferDescriptor): GPUBuffer {
    const buffer = createBuffer.call(this, descriptor);
    counts.live++;
    counts.bytes += descriptor.size;
    const destroy = buffer.destroy;
    let destroyed = false;
    buffer.destroy = function trackedDestroy(this: GPUBuffer) {
      if (!destroyed) {
        destroyed = true;
        counts.live--;
        counts.bytes -= descriptor.size;
      }
      return destroy.call(this);
    };
    return buffer;
  };
  const tracker: BufferTracker = {
    counts: () => ({ ...counts }),
    stop() {
      if (device.createBuffer !== createBuffer) device.createBuffer = createBuffer;
      trackers.delete(device);
    },
  };
  trackers.set(device, tracker);
  return tracker;
}
