import { attention, compare, generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { type KVCache, type KVCacheOptions, type KVCacheStorage, createKVCache } from '../index.js';
import { expectCode, llmKV, sliceTokens } from '../test-helpers.js';

const small = { batch: 1, kvHeads: 2, headDim: 16, pageSize: 16, sinkTokens: 4 } as const;

/** Deep copy of everything a cache holds (to check that a rejected call changed nothing). */
function snapshot(cache: KVCache): unknown {
  const copy = (storage: KVCacheStorage) => structuredClone({ ...storage, config: undefined });
  return { storage: copy(cache.storage()), lengths: cache.lengths, memory: cache.memory(), read: cache.lengths.map((_, b) => cache.read(b)) };
}

describe('KVCache placement: sink, INT8 buffer, pages', () => {
  it('keeps the first sinkTokens in float32, buffers the rest in INT8 and compresses each page that fills', async () => {
    const cache = await createKVCache({ ...small, backend: 'cpu' });
    const { k, v } = llmKV(1, 2, 60, 16);
    const append = (from: number, to: number) => cache.append(sliceTokens(k, 2, 60, 16, from, to), sliceTokens(v, 2, 60, 16, from, to));
    append(0, 3);
    expect(cache.memory().tokens).toEqual({ total: 3, sink: 3, paged: 0, buffered: 0 });
    append(3, 19);
    expect(cache.memory().tokens).toEqual({ total: 19, sink: 4, paged: 0, buffered: 15 });
    append(19, 20);
    expect(cache.memory().tokens).toEqual({ total: 20, sink: 4, paged: 16, buffered: 0 });
    expect(cache.memory().pages).toEqual({ 4: 4 }); // one page per kv head, for K and V
    append(20, 60);
    expect(cache.memory().tokens).toEqual({ total: 60, sink: 4, paged: 48, buffered: 8 });
    expect(cache.length).toBe(60);
    expect(cache.lengths).toEqual([60]);
  });

  it('reaches the same state whether tokens arrive one by one, in chunks, or all at once', async () => {
    const { k, v } = llmKV(1, 2, 77, 16, 4);
    const states = [];
    for (const chunk of [1, 10, 77]) {
      const cache = await createKVCache({ backend: 'cpu', ...small, capacity: 77 });
      for (let from = 0; from < 77; from += chunk) {
        const to = Math.min(77, from + chunk);
        cache.append(sliceTokens(k, 2, 77, 16, from, to), sliceTokens(v, 2, 77, 16, from, to));
      }
      states.push(snapshot(cache));
    }
    expect(states[0]).toEqual(states[2]);
    expect(states[1]).toEqual(states[2]);
  });

  it('appends to all sequences at once ([batch, …]) exactly as sequence by sequence', async () => {
    const { k, v } = llmKV(3, 2, 40, 16, 5);
    const batched = await createKVCache({ backend: 'cpu', ...small, batch: 3, capacity: 40 });
    batched.append(k, v);
    const bySequence = await createKVCache({ backend: 'cpu', ...small, batch: 3, capacity: 40 });
    for (let b = 0; b < 3; b++) bySequence.append(k.subarray(b * 2 * 40 * 16, (b + 1) * 2 * 40 * 16), v.subarray(b * 2 * 40 * 16, (b + 1) * 2 * 40 * 16), { sequence: b });
    expect(snapshot(bySequence)).toEqual(snapshot(batched));
  });

  it('holds sequences of different lengths, each read back on its own', async () => {
    const cache = await createKVCache({ backend: 'cpu', ...small, batch: 3 });
    const lengths = [4, 0, 37];
    const data = lengths.map((length, b) => (length ? llmKV(1, 2, length, 16, 10 + b) : null));
    data.forEach((kv, b) => kv && cache.append(kv.k, kv.v, { sequence: b }));
    expect(cache.lengths).toEqual(lengths);
    expect(cache.length).toBe(37);
    expect(cache.read(1).k).toHaveLength(0);
    expect(compare(cache.read(2).v, data[2]?.v ?? []).relL2).toBeLessThan(0.15);
    expect(compare(cache.read(0).k, data[0]?.k ?? []).relL2).toBeLessThan(1e-6); // all four in the sink: float32, up to the rotation's rounding
  });

  it('grows pages and page tables without changing what it holds', async () => {
    const cache = await createKVCache({ ...small, backend: 'cpu' });
    const { k, v } = llmKV(1, 2, 300, 16, 6);
    cache.append(sliceTokens(k, 2, 300, 16, 0, 40), sliceTokens(v, 2, 300, 16, 0, 40));
    const before = cache.read();
    for (let t = 40; t < 300; t++) cache.append(sliceTokens(k, 2, 300, 16, t, t + 1), sliceTokens(v, 2, 300, 16, t, t + 1));
    expect(cache.storage().maxPages).toBeGreaterThanOrEqual(18);
    const after = cache.read();
    expect(sliceTokens(after.k, 2, 300, 16, 0, 36)).toEqual(sliceTokens(before.k, 2, 40, 16, 0, 36)); // 2 pages + sink
    expect(sliceTokens(after.v, 2, 300, 16, 0, 36)).toEqual(sliceTokens(before.v, 2, 40, 16, 0, 36));
  });
});

describe('KVCache accuracy', () => {
  it('keeps every element within its bound: sink exact, buffer s_t/2, page s_t/2 + s_b/2 + s_b·⌊step/2⌋ (plus the clip of INT2 tails)', async () => {
    const options = { ...small, kvHeads: 3, headDim: 32, hadamard: false, lowBitFraction: { k: 0.34, v: 0.67 } };
    const tokens = 4 + 3 * 16 + 9;
    const cache = await createKVCache({ ...options, backend: 'cpu' });
    const { k, v } = llmKV(1, 3, tokens, 32, 2);
    cache.append(k, v);
    const read = cache.read();
    const storage = cache.storage();
    let worstExcess = -Infinity; // max over elements of |x − x̂| / bound − 1: ≤ 0 up to float32 rounding
    for (const [name, x, xRead] of [['k', k, read.k], ['v', v, read.v]] as const) {
      const tensor = storage[name];
      for (let g = 0; g < 3; g++) {
        for (let t = 0; t < tokens; t++) {
          const row = (g * tokens + t) * 32;
          const tokenScale = Math.max(...Array.from(x.subarray(row, row + 32), Math.abs)) / 127;
          const page = Math.floor((t - 4) / 16);
          for (let d = 0; d < 32; d++) {
            let bound: number;
            if (t < 4) bound = 0;
            else if (page >= 3) bound = tokenScale / 2 + 1e-7;
            else {
              const entry = g * storage.maxPages + page;
              const pool = tensor.pools[tensor.pageBits[entry] as 4 | 2];
              if (!pool) throw new Error('no pool');
              const slot = tensor.pageTable[entry];
              const column = name === 'k' ? d : (t - 4) % 16;
              const blockScale = pool.scales[slot];
              const step = pool.step[slot * pool.metaPerPage + column];
              const zero = pool.zero[slot * pool.metaPerPage + column];
              // A clipped INT2 grid (compressInt2Clipped) moves a value outside [zero, zero + 3·step] to its nearest end;
              // x/s_b is within (s_t/2 + s_b/2)/s_b of the INT8 value it was clipped from.
              const outside = Math.max(0, zero - x[row + d] / blockScale, x[row + d] / blockScale - (zero + ((1 << pool.bits) - 1) * step));
              const int8Error = tokenScale / 2 + blockScale / 2;
              bound = (outside > 0 ? 2 : 1) * int8Error + blockScale * Math.max(step >> 1, outside);
            }
            worstExcess = Math.max(worstExcess, Math.abs(x[row + d] - xRead[row + d]) - bound * (1 + 1e-6));
          }
        }
      }
    }
    expect(worstExcess).toBeLessThanOrEqual(0);
  });

  describe('after a 2K-token prompt (LLM-like, 8 kv heads, hd 128; float64 attention of 32 query heads over the dequantized cache)', () => {
    const shape = { batch: 1, heads: 32, kvHeads: 8, seqQ: 1, seqKV: 2048, headDim: 128 };
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 1 });
    const exact = attention(q, k, v, shape, { causal: true });
    const errorOf = async (options: Partial<KVCacheOptions>) => {
      const cache = await createKVCache({ backend: 'cpu', batch: 1, kvHeads: 8, headDim: 128, ...options });
      cache.append(k, v);
      const read = cache.read();
      return compare(attention(q, read.k, read.v, shape, { causal: true }), exact).relL2;
    };

    // Measured (seed 1): 3.35% default, 4.68% without the rotation, 12.1% without sink tokens, 0.33% INT8 pages.
    it('is within 3.6% at 4 bits, and each default pays: the rotation and the sink tokens', async () => {
      const error = await errorOf({});
      expect(error).toBeLessThanOrEqual(0.036);
      expect(await errorOf({ hadamard: false })).toBeGreaterThan(error + 0.01);
      expect(await errorOf({ sinkTokens: 0 })).toBeGreaterThan(3 * error);
    });

    it('is within 0.5% with INT8 pages', async () => {
      expect(await errorOf({ bits: 8 })).toBeLessThanOrEqual(0.005);
    });
  });
});

describe('KVCache head-wise mixed precision', () => {
  it('stores the lowest-priority heads of each page at 2 bits, for K and V separately', async () => {
    const cache = await createKVCache({ backend: 'cpu', ...small, kvHeads: 4, sinkTokens: 0, lowBitFraction: { k: 0.5, v: 0.25 } });
    const { k, v } = llmKV(1, 4, 16, 16, 7);
    // Head h's values scaled by 4^h (K: reversed), so the small heads have the lowest priority (gap × std).
    const scaled = (x: Float32Array, reverse: boolean) => x.map((value, i) => value * 4 ** (reverse ? 3 - Math.floor(i / 256) : Math.floor(i / 256)));
    cache.append(scaled(k, true), scaled(v, false));
    const storage = cache.storage();
    const bitsOf = (tensor: 'k' | 'v') => Array.from({ length: 4 }, (_, g) => storage[tensor].pageBits[g * storage.maxPages]);
    expect(bitsOf('k')).toEqual([4, 4, 2, 2]);
    expect(bitsOf('v')).toEqual([2, 4, 4, 4]);
    expect(cache.memory().pages).toEqual({ 4: 5, 2: 3 });
  });
});

describe('KVCache memory', () => {
  it('counts every allocated byte: pages, float32 sinks, INT8 buffers, tables', async () => {
    const cache = await createKVCache({ backend: 'cpu', batch: 1, kvHeads: 2, headDim: 64, pageSize: 64, sinkTokens: 4, capacity: 4 + 2 * 64 });
    const { k, v } = llmKV(1, 2, 4 + 2 * 64, 64, 8);
    cache.append(k, v);
    // Per kv head and page: 64·64/2 B of codes + a step and a zero byte per column + one float32 block scale;
    // K's columns are its 64 channels, V's its 64 tokens.
    const page = 2048 + 2 * 64 + 4;
    const memory = cache.memory();
    expect(memory.parts).toEqual({
      pages: 2 * 2 * 2 * page,
      sinks: 2 * 2 * 4 * 64 * 4,
      buffers: 2 * 2 * 64 * (64 + 4),
      tables: 2 * 2 * 2 * (4 + 1) + 4 + 2 * 64 * 4, // page table (Int32 slot + Uint8 bits), lengths, K means
    });
    expect(memory.fp16Bytes).toBe(2 * 2 * 2 * 132 * 64);
    expect(memory.allocatedBytes).toBe(Object.values(memory.parts).reduce((a, b) => a + b));
    expect(memory.compressionRatio).toBeCloseTo(memory.fp16Bytes / memory.allocatedBytes, 12);
  });

  // A full cache of 8K tokens per sequence at hd 128, all of it allocated up front (capacity). Measured: 3.74× (4 bits),
  // 4.54× (3/4 of the V heads at 2 bits), 4.88× (the paper’s half of the heads, K and V), 1.92× (INT8 pages).
  it.each([
    [{}, 3.7],
    [{ lowBitFraction: { k: 0, v: 0.75 } }, 4.4],
    [{ lowBitFraction: 0.5 }, 4.8],
    [{ bits: 8 as const }, 1.9],
  ])('is %o: at least %f× smaller than fp16 at 8K tokens', async (options, ratio) => {
    const tokens = 4 + 128 * 64;
    const cache = await createKVCache({ backend: 'cpu', batch: 1, kvHeads: 4, headDim: 128, capacity: tokens, ...options });
    const before = cache.memory().allocatedBytes;
    const { k, v } = generateInputs({ batch: 1, heads: 4, seqQ: 1, seqKV: tokens, headDim: 128 }, { kind: 'normal', seed: 9 });
    cache.append(k, v);
    expect(cache.memory().allocatedBytes).toBe(before); // a fixed capacity allocates everything up front
    expect(cache.memory().compressionRatio).toBeGreaterThanOrEqual(ratio);
  });
});

describe('KVCache bad inputs leave the cache exactly as it was', () => {
  const setup = async () => {
    const cache = await createKVCache({ backend: 'cpu', ...small, batch: 2, capacity: 40 });
    const { k, v } = llmKV(2, 2, 30, 16, 3);
    cache.append(k, v);
    return cache;
  };
  const tokens = (count: number, fill = 0.5) => new Float32Array(2 * 2 * count * 16).fill(fill);

  it.each([
    ['k of a fractional token count', () => [new Float32Array(2 * 2 * 16 + 5), tokens(1)], 'ERR_QATTN_SHAPE', 'tokens'],
    ['empty k', () => [new Float32Array(0), new Float32Array(0)], 'ERR_QATTN_SHAPE', 'k has 0'],
    ['v longer than k', () => [tokens(1), tokens(2)], 'ERR_QATTN_SHAPE', 'v has'],
    ['k as a Float64Array', () => [new Float64Array(2 * 2 * 16), tokens(1)], 'ERR_QATTN_DTYPE', 'k'],
    ['v as a plain array', () => [tokens(1), Array.from(tokens(1))], 'ERR_QATTN_DTYPE', 'v'],
    ['NaN in v', () => [tokens(1), Object.assign(tokens(1), { 17: Number.NaN })], 'ERR_QATTN_NONFINITE', 'v[17]'],
    ['Infinity in k', () => [Object.assign(tokens(3), { 100: Infinity }), tokens(3)], 'ERR_QATTN_NONFINITE', 'k[100]'],
    ['past the capacity', () => [tokens(11), tokens(11)], 'ERR_QATTN_SHAPE', 'capacity of 40'],
  ] as const)('rejects %s', async (_name, make, code, mentions) => {
    const cache = await setup();
    const before = snapshot(cache);
    const [k, v] = make() as [Float32Array, Float32Array];
    expectCode(() => cache.append(k, v), code, mentions);
    expect(snapshot(cache)).toEqual(before);
  });

  it.each([
    [{ sequence: 2 }, 'ERR_QATTN_OPTION', 'sequence must be an integer in [0, 1]'],
    [{ sequence: -1 }, 'ERR_QATTN_OPTION', 'sequence'],
    [{ sequence: 0.5 }, 'ERR_QATTN_OPTION', 'sequence'],
    [{ seq: 0 }, 'ERR_QATTN_OPTION', "unknown option 'seq'"],
  ] as const)('rejects append options %o', async (options, code, mentions) => {
    const cache = await setup();
    const before = snapshot(cache);
    expectCode(() => cache.append(tokens(1).subarray(0, 2 * 16), tokens(1).subarray(0, 2 * 16), options as never), code, mentions);
    expect(snapshot(cache)).toEqual(before);
  });

  it('rejects a per-sequence append of [batch, …] data, and one sequence past its capacity', async () => {
    const cache = await setup();
    const before = snapshot(cache);
    // 2.5 tokens of [kvHeads = 2, tokens, headDim = 16].
    expectCode(() => cache.append(new Float32Array(80), new Float32Array(80), { sequence: 1 }), 'ERR_QATTN_SHAPE', '[kvHeads, tokens, headDim]');
    cache.append(tokens(5).subarray(0, 2 * 10 * 16), tokens(5).subarray(0, 2 * 10 * 16), { sequence: 0 }); // sequence 0 now full
    const full = snapshot(cache);
    expectCode(() => cache.append(tokens(1), tokens(1)), 'ERR_QATTN_SHAPE', 'sequence 0 holds 40 tokens');
    expect(snapshot(cache)).toEqual(full);
    expect(full).not.toEqual(before);
  });

  it('rejects a bad sequence id in read and clear', async () => {
    const cache = await setup();
    expectCode(() => cache.read(2), 'ERR_QATTN_OPTION', 'sequence');
    expectCode(() => cache.clear(-1), 'ERR_QATTN_OPTION', 'sequence');
  });
});

describe('KVCache clear and dispose', () => {
  it('returns a cleared sequence’s pages to the pool, and reuses them', async () => {
    const cache = await createKVCache({ backend: 'cpu', ...small, batch: 2 });
    const { k, v } = llmKV(2, 2, 100, 16, 4);
    cache.append(k, v);
    const allocated = cache.memory().allocatedBytes;
    const pages = cache.memory().pages[4] ?? 0;
    cache.clear(0);
    expect(cache.lengths).toEqual([0, 100]);
    expect(cache.memory().pages[4]).toBe(pages / 2);
    cache.append(k.subarray(0, 2 * 100 * 16), v.subarray(0, 2 * 100 * 16), { sequence: 0 });
    expect(cache.memory().allocatedBytes).toBe(allocated);
    expect(cache.read(0)).toEqual(cache.read(0));
    cache.clear();
    expect(cache.lengths).toEqual([0, 0]);
    expect(cache.memory().pages).toEqual({ 4: 0 });
  });

  it('throws ERR_QATTN_DISPOSED from every method of a disposed cache; dispose is idempotent', async () => {
    const cache = await createKVCache({ ...small, backend: 'cpu' });
    cache.dispose();
    cache.dispose();
    expect(cache.disposed).toBe(true);
    const data = new Float32Array(2 * 16);
    for (const use of [() => cache.append(data, data), () => cache.read(), () => cache.memory(), () => cache.clear(), () => cache.storage(), () => cache.lengths, () => cache.length]) {
      expectCode(use, 'ERR_QATTN_DISPOSED', 'disposed');
    }
  });
});
