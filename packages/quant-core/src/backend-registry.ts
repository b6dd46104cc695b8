import { QattnError, isQattnError } from './errors.js';

/** The backends a kernel package may provide. */
export type BackendName = 'cpu' | 'webgpu' | 'cuda';
/** What a caller asks for: one backend, or `'auto'` for the fastest one that loads here. */
export type BackendRequest = 'auto' | BackendName;

/** Outcome of probing one backend, for reporting (`qattn-bench` prints these). */
export interface BackendStatus {
  name: BackendName;
  priority: number;
  available: boolean;
  /** Why it is unavailable (absent when available). */
  reason?: string;
}

interface Entry<B> {
  name: BackendName;
  priority: number;
  factory: () => Promise<B>;
  options: RegisterOptions<B>;
  loaded?: Promise<B>;
}

/** Options of {@link BackendRegistry.register}. */
export interface RegisterOptions<B> {
  /**
   * Asked after the backend loaded, for `'auto'` only: a reason to pass it over for a lower-priority one (e.g. a
   * WebGPU cache on a software adapter, slower than the CPU one), or undefined to take it. Asking by name ignores it.
   */
  skipInAuto?: (backend: B) => string | undefined;
}

/**
 * A registry of backends in the style of onnxruntime-web and tfjs: each backend registers a factory that probes its
 * capabilities (loads the addon, requests an adapter) and either returns the backend or throws saying why.
 * `resolve('auto')` walks the backends from the highest priority down and reports every failure when none loads.
 * A successful load is cached; a failed one is retried on the next call, so a GPU that comes back (a lost WebGPU
 * device, a driver that was busy) is picked up again.
 */
export class BackendRegistry<B> {
  readonly #entries = new Map<BackendName, Entry<B>>();

  constructor(private readonly packageName: string) {}

  /** Registers (or replaces) a backend. Higher `priority` is preferred by `'auto'`. */
  register(name: BackendName, factory: () => Promise<B>, priority: number, options: RegisterOptions<B> = {}): void {
    this.#entries.set(name, { name, priority, factory, options });
  }

  /** Names of the registered backends, highest priority first. */
  names(): BackendName[] {
    return this.#sorted().map((e) => e.name);
  }

  /** Loads the requested backend; `'auto'` falls back through every registered backend by priority. */
  async resolve(request: BackendRequest): Promise<{ name: BackendName; backend: B }> {
    if (request !== 'auto') {
      const entry = this.#entries.get(request);
      if (!entry) {
        throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `${this.packageName}: backend '${request}' is not part of this package`, {
          backend: request,
        });
      }
      return { name: entry.name, backend: await this.#load(entry) };
    }
    const failures: string[] = [];
    for (const entry of this.#sorted()) {
      try {
        const backend = await this.#load(entry);
        const skip = entry.options.skipInAuto?.(backend);
        if (skip === undefined) return { name: entry.name, backend };
        failures.push(`${entry.name}: ${skip}`);
      } catch (err) {
        failures.push(`${entry.name}: ${(err as Error).message}`);
      }
    }
    throw new QattnError('ERR_QATTN_BACKEND_UNAVAILABLE', `${this.packageName}: no backend could be loaded (${failures.join('; ')})`, {
      failures,
    });
  }

  /** Probes every registered backend and reports which load here and why the others do not. */
  async status(): Promise<BackendStatus[]> {
    const out: BackendStatus[] = [];
    for (const entry of this.#sorted()) {
      try {
        await this.#load(entry);
        out.push({ name: entry.name, priority: entry.priority, available: true });
      } catch (err) {
        out.push({ name: entry.name, priority: entry.priority, available: false, reason: (err as Error).message });
      }
    }
    return out;
  }

  /** Drops a cached backend (e.g. after its device was lost) so the next call loads it afresh. */
  invalidate(name: BackendName): void {
    const entry = this.#entries.get(name);
    if (entry) entry.loaded = undefined;
  }

  #sorted(): Entry<B>[] {
    return [...this.#entries.values()].sort((a, b) => b.priority - a.priority);
  }

  #load(entry: Entry<B>): Promise<B> {
    if (!entry.loaded) {
      entry.loaded = entry.factory().catch((err: unknown) => {
        entry.loaded = undefined;
        if (isQattnError(err, 'ERR_QATTN_BACKEND_UNAVAILABLE')) throw err;
        throw new QattnError(
          'ERR_QATTN_BACKEND_UNAVAILABLE',
          `${this.packageName}: backend '${entry.name}' failed to load: ${(err as Error)?.message ?? String(err)}`,
          { backend: entry.name },
          { cause: err },
        );
      });
    }
    return entry.loaded;
  }
}
