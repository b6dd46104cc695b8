import { BufferUsage } from '../constants.js';
import type { GpuContext } from '../device.js';
import {
  type AttentionPlanRequest,
  allocateWorkspace,
  attentionPlanKey,
  planQuantizedAttention,
  type QuantizedAttentionPlan,
  type QuantizedAttentionWorkspace,
} from './attention-plan.js';

/** Plans (with their workspaces) kept per device; the least recently used one is freed past this. */
export const PLAN_CACHE_CAPACITY = 8;

/**
 * Host-visible buffers of the typed-array path of one plan: q, k, v uploaded with `writeBuffer`, out, and a staging
 * buffer the output is copied to and mapped from.
 */
export interface AttentionIoBuffers {
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  out: GPUBuffer;
  readback: GPUBuffer;
}

/**
 * A plan and its workspace, allocated once and reused by every call with the same request on the same device ("plan
 * once, run many"). Calls share the workspace safely because WebGPU runs one queue's submissions in order.
 */
export class CachedAttentionPlan {
  #io: AttentionIoBuffers | undefined;
  #ioBusy = false;
  #evicted = false;

  constructor(
    private readonly context: GpuContext,
    readonly plan: QuantizedAttentionPlan,
    readonly workspace: QuantizedAttentionWorkspace,
  ) {}

  /**
   * The plan's typed-array buffers, or a fresh set when another call holds them (its readback is still mapping).
   * Hand them back with {@link releaseIo}.
   */
  claimIo(): AttentionIoBuffers {
    if (!this.#ioBusy && !this.#evicted) {
      this.#io ??= createIoBuffers(this.context, this.plan);
      this.#ioBusy = true;
      return this.#io;
    }
    return createIoBuffers(this.context, this.plan);
  }

  /** Returns buffers from {@link claimIo}; `broken` (a failed call) frees them instead of keeping them. */
  releaseIo(io: AttentionIoBuffers, broken = false): void {
    if (io !== this.#io) {
      destroyIo(io);
      return;
    }
    this.#ioBusy = false;
    if (broken || this.#evicted) {
      destroyIo(io);
      this.#io = undefined;
    }
  }

  /** Frees the workspace, and the typed-array buffers unless a call still maps them (freed when it hands them back). */
  evict(): void {
    this.#evicted = true;
    this.workspace.destroy();
    if (this.#io && !this.#ioBusy) {
      destroyIo(this.#io);
      this.#io = undefined;
    }
  }
}

function createIoBuffers(context: GpuContext, plan: QuantizedAttentionPlan): AttentionIoBuffers {
  const { device } = context;
  const { shape, label } = plan;
  const storage = (bytes: number, name: string) =>
    device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC, label: `${label} ${name}` });
  const outBytes = outputBytes(plan);
  return {
    q: storage(shape.qElements * 4, 'q'),
    k: storage(shape.kvElements * 4, 'k'),
    v: storage(shape.kvElements * 4, 'v'),
    out: storage(outBytes, 'out'),
    readback: device.createBuffer({ size: outBytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: `${label} readback` }),
  };
}

/** Bytes of a plan's output buffer (float32, or float16 rounded up to whole 4-byte words). */
export function outputBytes(plan: QuantizedAttentionPlan): number {
  return Math.ceil((plan.shape.qElements * (plan.kernel.outputF16 ? 2 : 4)) / 4) * 4;
}

function destroyIo(io: AttentionIoBuffers): void {
  for (const buffer of Object.values(io)) buffer.destroy();
}

const caches = new WeakMap<GPUDevice, Map<string, CachedAttentionPlan>>();

/**
 * The cached plan of `request` on `context`'s device: planned and allocated on first use, then reused; the least
 * recently used of more than {@link PLAN_CACHE_CAPACITY} plans is evicted (its buffers freed). Planning errors are
 * thrown on every call (nothing is cached for them). A lost device's plans go with its device object.
 */
export function cachedAttentionPlan(context: GpuContext, request: AttentionPlanRequest): CachedAttentionPlan {
  let perDevice = caches.get(context.device);
  if (!perDevice) {
    perDevice = new Map();
    caches.set(context.device, perDevice);
  }
  const key = attentionPlanKey(request);
  const hit = perDevice.get(key);
  if (hit) {
    // Map iteration order is insertion order: re-inserting makes this the most recently used.
    perDevice.delete(key);
    perDevice.set(key, hit);
    return hit;
  }
  const plan = planQuantizedAttention(context, request);
  const entry = new CachedAttentionPlan(context, plan, allocateWorkspace(context, plan));
  perDevice.set(key, entry);
  while (perDevice.size > PLAN_CACHE_CAPACITY) {
    const [oldestKey, oldest] = perDevice.entries().next().value as [string, CachedAttentionPlan];
    perDevice.delete(oldestKey);
    oldest.evict();
  }
  return entry;
}

/**
 * Evicts the cached plan of `key` on `device`, if any: after a device error its workspace may hold invalid buffers
 * (an allocation that ran out of memory), so the next call plans afresh.
 */
export function dropAttentionPlan(device: GPUDevice, key: string): void {
  const perDevice = caches.get(device);
  const entry = perDevice?.get(key);
  if (!entry) return;
  perDevice?.delete(key);
  entry.evict();
}

/** How many plans `device` holds (tests, diagnostics). */
export function cachedAttentionPlanCount(device: GPUDevice): number {
  return caches.get(device)?.size ?? 0;
}

/** Frees every cached plan of `device` (their workspaces and typed-array buffers). */
export function clearAttentionPlans(device: GPUDevice): void {
  const perDevice = caches.get(device);
  if (!perDevice) return;
  caches.delete(device);
  for (const entry of perDevice.values()) entry.evict();
}
