// PlanCache: "plan once, run many" for the kernel packages. A plan is whatever a kernel package builds once per
// (shape, options): its workspace tensors, padded layout, packed constants. The cache is a small LRU keyed by string;
// its values own device memory and are disposed on eviction, `delete`, `clear()` and `PlanCache.clearAll()`.
//
// API (fixed; kernel packages build on it):
//
//   interface PlanResource { dispose(): void; readonly bytes?: number }
//   interface PlanCacheOptions { name: string; capacity?: number /* plans, default 8 */; maxBytes?: number /* default ∞ */ }
//   class PlanCache<P extends PlanResource> {
//     constructor(options: PlanCacheOptions);
//     use<R>(key: string, create: () => P | Promise<P>, fn: (plan: P) => R | Promise<R>): Promise<R>;
//     readonly name: string; readonly size: number; readonly bytes: number; keys(): string[];
//     has(key: string): boolean; delete(key: string): boolean; clear(): void;
//     static clearAll(): void;   // every live PlanCache of the process; CudaRuntime.releaseCaches() calls it
//   }
//
//   const plans = new PlanCache<AttentionWorkspace>({ name: '@qattn/flash-int8 cuda', capacity: 8 });
//   const out = await plans.use(`${b}x${h}x${n}x${d}|${pv}`, () => AttentionWorkspace.allocate(rt, shape),
//     (ws) => rt.launch(launcher, ws.pack(q, k, v, out), 'flash-int8 attention'));
//
// Lifetime rule: a plan is pinned while a `use()` callback that holds it has not settled. Evicting or clearing a
// pinned plan removes it from the cache at once (new calls build a fresh one) and disposes it when its last callback
// settles, so a call never sees `ERR_QATTN_DISPOSED` on its own workspace. Device memory needs no more than that:
// the runtime frees in stream order, after every job submitted before the free.
//
// Sharing rule: concurrent calls with the same key share one plan, and therefore one workspace. That is safe when each
// call's device work on the plan's buffers is ONE queue job (one `launch` or one `submit`), because the queue runs
// jobs whole and in submission order on one stream: call B's uploads into the plan's buffers cannot land between call
// A's uploads and A's download. A call that spreads work on a shared plan over several jobs must not be overlapped
// with another call on the same key (await it, or key per caller).
import { QattnError } from '@qattn/quant-core';

/** A cached value: owns device memory (or anything else) that `dispose()` releases. `dispose()` must not throw. */
export interface PlanResource {
  dispose(): void;
  /** Device bytes the plan holds, counted against {@link PlanCacheOptions.maxBytes}; 0 when absent. */
  readonly bytes?: number;
}

/** Limits of one {@link PlanCache}. */
export interface PlanCacheOptions {
  /** Names the cache in errors, e.g. '@qattn/flash-int8 cuda'. */
  name: string;
  /** Most plans kept (least recently used evicted first). Default 8. */
  capacity?: number;
  /** Most device bytes kept, summed over the plans' `bytes`. Default unlimited. */
  maxBytes?: number;
}

interface Entry<P> {
  /** The plan, once `create()` has resolved. */
  plan?: P;
  /** The pending `create()`, shared by every caller that misses while it runs. */
  creating?: Promise<P>;
  /** Callbacks currently holding the plan. */
  pins: number;
  /** Removed from the cache: dispose as soon as `pins` reaches 0. */
  retired: boolean;
}

const DEFAULT_CAPACITY = 8;

/** Every live cache, for {@link PlanCache.clearAll}. Weak, so a cache a caller drops is collected with its plans. */
const registry = new Set<WeakRef<PlanCache<PlanResource>>>();

/**
 * A small LRU of plans keyed by string (shape and options), whose values own device tensors. See the module header
 * for the lifetime and sharing rules.
 */
export class PlanCache<P extends PlanResource> {
  readonly name: string;
  readonly capacity: number;
  readonly maxBytes: number;
  /** Insertion order of a Map is its LRU order: a hit re-inserts the key at the end. */
  readonly #entries = new Map<string, Entry<P>>();
  /** The key last in `#entries` (most recently used), when known: a hit on it needs no re-insertion. */
  #newest: string | undefined;
  #bytes = 0;

  constructor(options: PlanCacheOptions) {
    const capacity = options.capacity ?? DEFAULT_CAPACITY;
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new QattnError('ERR_QATTN_OPTION', `PlanCache '${options.name}': capacity must be a positive integer, got ${capacity}`, { option: 'capacity' });
    }
    if (!(maxBytes > 0)) {
      throw new QattnError('ERR_QATTN_OPTION', `PlanCache '${options.name}': maxBytes must be positive, got ${maxBytes}`, { option: 'maxBytes' });
    }
    this.name = options.name;
    this.capacity = capacity;
    this.maxBytes = maxBytes;
    registry.add(new WeakRef(this as unknown as PlanCache<PlanResource>));
  }

  /** Plans in the cache (pinned retired plans no longer count). */
  get size(): number {
    return this.#entries.size;
  }

  /** Device bytes of the cached plans. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keys from least to most recently used. */
  keys(): string[] {
    return [...this.#entries.keys()];
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * Runs `fn` with the plan of `key`, built by `create()` on a miss (concurrent misses share one `create()`). The plan
   * stays pinned until `fn`'s result settles. A failing `create()` caches nothing and rejects every waiting caller.
   */
  async use<R>(key: string, create: () => P | Promise<P>, fn: (plan: P) => R | Promise<R>): Promise<R> {
    let entry = this.#entries.get(key);
    if (entry) {
      // A loop of calls on one shape hits the newest key every time: the LRU order is already right.
      if (key !== this.#newest) {
        this.#entries.delete(key);
        this.#entries.set(key, entry);
        this.#newest = key;
      }
    } else {
      entry = { pins: 0, retired: false };
      this.#entries.set(key, entry);
      this.#newest = key;
      entry.creating = this.#create(key, entry, create);
    }
    entry.pins++;
    try {
      const plan = entry.plan ?? (await entry.creating!);
      return await fn(plan);
    } finally {
      entry.pins--;
      if (entry.retired) this.#disposeIfIdle(entry);
    }
  }

  /** Removes `key`; its plan is disposed now, or when the calls holding it settle. False when absent. */
  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#retire(key, entry);
    return true;
  }

  /** Removes every plan; idle ones are disposed now, pinned ones when their calls settle. */
  clear(): void {
    for (const [key, entry] of [...this.#entries]) this.#retire(key, entry);
  }

  /** Clears every live PlanCache of the process (leak checks: live buffers return to where they were). */
  static clearAll(): void {
    for (const ref of [...registry]) {
      const cache = ref.deref();
      if (cache) cache.clear();
      else registry.delete(ref);
    }
  }

  async #create(key: string, entry: Entry<P>, create: () => P | Promise<P>): Promise<P> {
    let plan: P;
    try {
      plan = await create();
    } catch (err) {
      if (this.#entries.get(key) === entry) this.#remove(key);
      throw err;
    }
    entry.plan = plan;
    entry.creating = undefined;
    if (entry.retired) {
      // Cleared while it was being built: callers already waiting still get it, then it is disposed.
      return plan;
    }
    this.#bytes += plan.bytes ?? 0;
    this.#evict(key);
    return plan;
  }

  /** Evicts least recently used plans, never `keep` (the one just built), until both limits hold. */
  #evict(keep: string): void {
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.capacity && this.#bytes <= this.maxBytes) return;
      if (key !== keep && entry.plan) this.#retire(key, entry);
    }
  }

  #remove(key: string): void {
    this.#entries.delete(key);
    if (key === this.#newest) this.#newest = undefined;
  }

  #retire(key: string, entry: Entry<P>): void {
    if (this.#entries.get(key) === entry) this.#remove(key);
    if (entry.retired) return;
    entry.retired = true;
    if (entry.plan) this.#bytes -= entry.plan.bytes ?? 0;
    this.#disposeIfIdle(entry);
  }

  #disposeIfIdle(entry: Entry<P>): void {
    if (entry.pins > 0 || !entry.plan) return;
    const plan = entry.plan;
    entry.plan = undefined;
    plan.dispose();
  }
}
