// PlanCache without a GPU: plans are fake disposables that record when they are disposed.
import { isQattnError } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { PlanCache } from '../src/plan-cache.js';

class FakePlan {
  disposals = 0;
  constructor(
    readonly key: string,
    readonly bytes = 0,
  ) {}
  dispose(): void {
    this.disposals++;
  }
}

/** A promise with its resolve function, to hold a `use()` callback open. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

function cacheOf(capacity: number, maxBytes?: number) {
  const created: FakePlan[] = [];
  const cache = new PlanCache<FakePlan>({ name: 'test', capacity, maxBytes });
  const make = (key: string, bytes = 0) => () => {
    const plan = new FakePlan(key, bytes);
    created.push(plan);
    return plan;
  };
  return { cache, created, make };
}

describe('PlanCache', () => {
  it('builds a plan once per key and reuses it', async () => {
    const { cache, created, make } = cacheOf(4);
    const first = await cache.use('a', make('a'), (plan) => plan);
    const second = await cache.use('a', make('a'), (plan) => plan);
    expect(second).toBe(first);
    expect(created).toHaveLength(1);
    expect(cache.size).toBe(1);
  });

  it('concurrent misses of one key share one create()', async () => {
    const { cache, created } = cacheOf(4);
    let release!: (plan: FakePlan) => void;
    const pending = new Promise<FakePlan>((resolve) => {
      release = resolve;
    });
    const create = () => {
      created.push(new FakePlan('a'));
      return pending;
    };
    const calls = [cache.use('a', create, (p) => p), cache.use('a', create, (p) => p), cache.use('a', create, (p) => p)];
    const plan = new FakePlan('a');
    release(plan);
    const plans = await Promise.all(calls);
    expect(created).toHaveLength(1);
    expect(plans.every((p) => p === plan)).toBe(true);
  });

  it('evicts the least recently used plan at capacity and disposes it', async () => {
    const { cache, created, make } = cacheOf(2);
    await cache.use('a', make('a'), () => undefined);
    await cache.use('b', make('b'), () => undefined);
    await cache.use('a', make('a'), () => undefined);
    await cache.use('c', make('c'), () => undefined);
    expect(cache.keys()).toEqual(['a', 'c']);
    const [a, b, c] = created;
    expect(b.disposals).toBe(1);
    expect(a.disposals + c.disposals).toBe(0);
  });

  it('evicts by bytes when maxBytes is set, keeping the plan just built', async () => {
    const { cache, created, make } = cacheOf(8, 100);
    await cache.use('a', make('a', 60), () => undefined);
    await cache.use('b', make('b', 30), () => undefined);
    expect(cache.bytes).toBe(90);
    await cache.use('c', make('c', 50), () => undefined);
    expect(cache.keys()).toEqual(['b', 'c']);
    expect(cache.bytes).toBe(80);
    expect(created[0].disposals).toBe(1);
    await cache.use('d', make('d', 500), () => undefined);
    expect(cache.keys()).toEqual(['d']);
    expect(created.map((p) => p.disposals)).toEqual([1, 1, 1, 0]);
  });

  it('never disposes a plan while a call holds it; evicted, it is disposed when the call settles', async () => {
    const { cache, created, make } = cacheOf(1);
    const hold = gate();
    const running = cache.use('a', make('a'), async (plan) => {
      await hold.promise;
      expect(plan.disposals).toBe(0);
      return plan;
    });
    await Promise.resolve();
    await cache.use('b', make('b'), () => undefined);
    expect(cache.keys()).toEqual(['b']);
    expect(created[0].disposals).toBe(0);
    hold.open();
    const plan = await running;
    expect(plan.disposals).toBe(1);
  });

  it('a retired plan in use by two calls is disposed after the last one', async () => {
    const { cache, created, make } = cacheOf(4);
    const first = gate();
    const second = gate();
    const a = cache.use('a', make('a'), () => first.promise);
    const b = cache.use('a', make('a'), () => second.promise);
    await Promise.resolve();
    cache.clear();
    expect(cache.size).toBe(0);
    first.open();
    await a;
    expect(created[0].disposals).toBe(0);
    second.open();
    await b;
    expect(created[0].disposals).toBe(1);
    expect(created).toHaveLength(1);
  });

  it('clear() disposes idle plans at once and exactly once', async () => {
    const { cache, created, make } = cacheOf(4);
    await cache.use('a', make('a', 10), () => undefined);
    await cache.use('b', make('b', 20), () => undefined);
    cache.clear();
    cache.clear();
    expect(created.map((p) => p.disposals)).toEqual([1, 1]);
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
    await cache.use('a', make('a'), () => undefined);
    expect(created).toHaveLength(3);
  });

  it('delete() removes one key', async () => {
    const { cache, created, make } = cacheOf(4);
    await cache.use('a', make('a'), () => undefined);
    await cache.use('b', make('b'), () => undefined);
    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
    expect(cache.keys()).toEqual(['b']);
    expect(created.map((p) => p.disposals)).toEqual([1, 0]);
  });

  it('clearAll() clears every live cache', async () => {
    const one = cacheOf(4);
    const two = cacheOf(4);
    await one.cache.use('a', one.make('a'), () => undefined);
    await two.cache.use('a', two.make('a'), () => undefined);
    PlanCache.clearAll();
    expect(one.cache.size + two.cache.size).toBe(0);
    expect([...one.created, ...two.created].map((p) => p.disposals)).toEqual([1, 1]);
  });

  it('a plan cleared while it is being built reaches its waiting calls, then is disposed', async () => {
    const { cache } = cacheOf(4);
    let release!: (plan: FakePlan) => void;
    const plan = new FakePlan('a', 10);
    const running = cache.use(
      'a',
      () =>
        new Promise<FakePlan>((resolve) => {
          release = resolve;
        }),
      (p) => p.disposals,
    );
    cache.clear();
    release(plan);
    expect(await running).toBe(0);
    expect(plan.disposals).toBe(1);
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('a failing create() caches nothing, rejects every waiting call, and the next call retries', async () => {
    const { cache, created, make } = cacheOf(4);
    let attempts = 0;
    const failing = async (): Promise<FakePlan> => {
      attempts++;
      await Promise.resolve();
      throw new Error('out of memory');
    };
    const calls = [cache.use('a', failing, () => 1), cache.use('a', failing, () => 2)];
    for (const call of calls) await expect(call).rejects.toThrow('out of memory');
    expect(attempts).toBe(1);
    expect(cache.size).toBe(0);
    expect(await cache.use('a', make('a'), () => 3)).toBe(3);
    expect(created).toHaveLength(1);
  });

  it('a failing call keeps the plan cached and unpinned', async () => {
    const { cache, created, make } = cacheOf(1);
    await expect(
      cache.use('a', make('a'), () => {
        throw new Error('launch failed');
      }),
    ).rejects.toThrow('launch failed');
    expect(cache.keys()).toEqual(['a']);
    await cache.use('b', make('b'), () => undefined);
    expect(created[0].disposals).toBe(1);
  });

  it('rejects invalid limits with ERR_QATTN_OPTION', () => {
    for (const options of [{ capacity: 0 }, { capacity: 1.5 }, { maxBytes: 0 }, { maxBytes: Number.NaN }]) {
      let caught: unknown;
      try {
        new PlanCache({ name: 'bad', ...options });
      } catch (err) {
        caught = err;
      }
      expect(isQattnError(caught, 'ERR_QATTN_OPTION'), JSON.stringify(options)).toBe(true);
    }
  });
});
