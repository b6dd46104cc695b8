import { describe, expect, it } from 'vitest';
import {
  MIN_SCALE,
  SAFE_SCALE,
  asymmetricMax,
  dequantize,
  quantize,
  roundHalfEven,
  scaleLayout,
  symmetricMax,
  type Granularity,
  type QuantBits,
  type QuantScheme,
  type QuantSpec,
  type TensorView,
} from './quantize.js';
import { createRng } from './rng.js';
import { expectCode } from './test-helpers.js';

const BITS: QuantBits[] = [8, 4, 2];
const SCHEMES: QuantScheme[] = ['symmetric', 'asymmetric'];

function randomGranularity(rng: () => number, tokens: number): Granularity {
  const blockSize = 1 + Math.floor(rng() * (tokens + 2));
  const all: Granularity[] = [
    { kind: 'tensor' },
    { kind: 'head' },
    { kind: 'token' },
    { kind: 'block', blockSize },
    { kind: 'channel' },
    { kind: 'blockChannel', blockSize },
  ];
  return all[Math.floor(rng() * all.length)];
}

/** Heavy-tailed values over a wide dynamic range, with some channels offset, like LLM activations. */
function randomTensor(rng: () => number, length: number, channels: number): Float32Array {
  const magnitude = 10 ** (rng() * 8 - 4);
  const offsetChannel = Math.floor(rng() * channels);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const u = rng() - 0.5;
    out[i] = magnitude * (u / (1e-2 + Math.abs(rng() - 0.5)) + (i % channels === offsetChannel ? 20 : 0));
  }
  return out;
}

/** Independent cell assignment, written per kind (not through scaleLayout) to cross-check the layout formula. */
function cellOf(view: TensorView, granularity: Granularity, g: number, t: number, c: number): number {
  const { tokens, channels } = view;
  switch (granularity.kind) {
    case 'tensor':
      return 0;
    case 'head':
      return g;
    case 'token':
      return g * tokens + t;
    case 'block': {
      const blocks = Math.ceil(tokens / Math.min(granularity.blockSize, tokens));
      return g * blocks + Math.floor(t / granularity.blockSize);
    }
    case 'channel':
      return g * channels + c;
    case 'blockChannel': {
      const blocks = Math.ceil(tokens / Math.min(granularity.blockSize, tokens));
      return (g * blocks + Math.floor(t / granularity.blockSize)) * channels + c;
    }
  }
}

describe('roundHalfEven', () => {
  it('rounds ties to even like __float2int_rn and WGSL round()', () => {
    const cases: Array<[number, number]> = [
      [0.5, 0],
      [1.5, 2],
      [2.5, 2],
      [3.5, 4],
      [-0.5, -0],
      [-1.5, -2],
      [-2.5, -2],
      [126.5, 126],
      [127.5, 128],
      [2.4999999, 2],
      [2.5000001, 3],
      [-7.49, -7],
      [1e20, 1e20],
    ];
    // `+ 0` folds −0 into +0: the sign of a zero code is meaningless once stored in an integer array.
    for (const [input, expected] of cases) expect(roundHalfEven(input) + 0).toBe(expected + 0);
  });

  it('agrees with Math.round away from ties', () => {
    const rng = createRng(7);
    for (let i = 0; i < 10_000; i++) {
      const x = (rng() - 0.5) * 1000;
      if (Math.abs(x - Math.trunc(x)) !== 0.5) expect(roundHalfEven(x) + 0).toBe(Math.round(x) + 0);
    }
  });
});

describe('scaleLayout', () => {
  const view = { groups: 3, tokens: 10, channels: 4 };
  it.each<[Granularity, [number, number, number]]>([
    [{ kind: 'tensor' }, [1, 1, 1]],
    [{ kind: 'head' }, [3, 1, 1]],
    [{ kind: 'token' }, [3, 10, 1]],
    [{ kind: 'block', blockSize: 4 }, [3, 3, 1]],
    [{ kind: 'block', blockSize: 64 }, [3, 1, 1]],
    [{ kind: 'channel' }, [3, 1, 4]],
    [{ kind: 'blockChannel', blockSize: 3 }, [3, 4, 4]],
  ])('%j → grid %j', (granularity, shape) => {
    const layout = scaleLayout(view, granularity);
    expect(layout.shape).toEqual(shape);
    expect(layout.cells).toBe(shape[0] * shape[1] * shape[2]);
  });
});

describe('quantize / dequantize properties (seeded)', () => {
  it('round trips within half a step, codes in range, scales positive, cells as documented', () => {
    const rng = createRng(20240917);
    for (let trial = 0; trial < 300; trial++) {
      const view = { groups: 1 + Math.floor(rng() * 4), tokens: 1 + Math.floor(rng() * 20), channels: 1 + Math.floor(rng() * 12) };
      const spec: QuantSpec = {
        bits: BITS[trial % 3],
        scheme: SCHEMES[Math.floor(trial / 3) % 2],
        granularity: randomGranularity(rng, view.tokens),
      };
      const x = randomTensor(rng, view.groups * view.tokens * view.channels, view.channels);
      const before = x.slice();
      const q = quantize(x, view, spec);
      expect(x).toEqual(before);
      expect(q.scales.length).toBe(q.layout.cells);

      const lo = spec.scheme === 'symmetric' ? -symmetricMax(spec.bits) : 0;
      const hi = spec.scheme === 'symmetric' ? symmetricMax(spec.bits) : asymmetricMax(spec.bits);
      for (const s of q.scales) expect(s > 0 && Number.isFinite(s)).toBe(true);

      const absMax = new Float64Array(q.layout.cells);
      const xhat = dequantize(q);
      // Checked element by element, reported once per trial (an expect per element would dominate the run time).
      const violations: string[] = [];
      for (let g = 0; g < view.groups; g++) {
        for (let t = 0; t < view.tokens; t++) {
          for (let c = 0; c < view.channels; c++) {
            const i = (g * view.tokens + t) * view.channels + c;
            const cell = cellOf(view, spec.granularity, g, t, c);
            const code = q.values[i];
            const step = q.scales[cell];
            const zero = q.scheme === 'asymmetric' ? q.zeros[cell] : 0;
            const exact = code * step + zero; // float64 reconstruction: the half-step bound is about the codes
            if (code < lo || code > hi) violations.push(`code ${code} at ${i}`);
            if (Math.abs(exact - x[i]) > 0.5 * step * (1 + 1e-6)) violations.push(`error ${exact - x[i]} > s/2 = ${step / 2} at ${i}`);
            // The float32 result adds at most one rounding of its own.
            if (Math.abs(xhat[i] - exact) > Math.abs(exact) * 2 ** -24) violations.push(`float32 rounding at ${i}`);
            absMax[cell] = Math.max(absMax[cell], Math.abs(x[i]));
          }
        }
      }
      expect(violations, JSON.stringify({ trial, view, spec })).toEqual([]);
      if (spec.scheme === 'symmetric') {
        // The largest element of every non-degenerate cell uses the full code range: no wasted resolution.
        for (let cell = 0; cell < q.layout.cells; cell++) {
          if (q.scales[cell] !== absMax[cell] && absMax[cell] > 0) {
            expect(Math.abs(absMax[cell] / q.scales[cell] - symmetricMax(spec.bits))).toBeLessThan(1e-5);
          }
        }
      }
    }
  });

  it('dequantize writes into a given output', () => {
    const x = new Float32Array([1, -2, 3, 0.5]);
    const q = quantize(x, { groups: 1, tokens: 2, channels: 2 }, { bits: 8, scheme: 'symmetric', granularity: { kind: 'token' } });
    const out = new Float32Array(4);
    expect(dequantize(q, out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(dequantize(q)));
  });

  it('symmetric int8 uses [−127, 127]: the max element maps to ±127 and −128 never appears', () => {
    const x = new Float32Array([-3, 1.5, 3, -2.99]);
    const q = quantize(x, { groups: 1, tokens: 1, channels: 4 }, { bits: 8, scheme: 'symmetric', granularity: { kind: 'tensor' } });
    expect(Array.from(q.values)).toEqual([-127, 64, 127, -127]);
    expect(q.scales[0]).toBe(Math.fround(3 / 127));
  });

  it('rounds exact half steps to even', () => {
    // s = 127/127 = 1, so x/s is exactly the input: 0.5 → 0, 1.5 → 2, 2.5 → 2, −2.5 → −2.
    const x = new Float32Array([127, 0.5, 1.5, 2.5, -2.5]);
    const q = quantize(x, { groups: 1, tokens: 1, channels: 5 }, { bits: 8, scheme: 'symmetric', granularity: { kind: 'tensor' } });
    expect(Array.from(q.values)).toEqual([127, 0, 2, 2, -2]);
  });

  it('asymmetric maps min to code 0 and max to 2^b − 1 exactly', () => {
    const x = new Float32Array([-1.25, 0.3, 7.75, 2]);
    for (const bits of BITS) {
      const q = quantize(x, { groups: 1, tokens: 1, channels: 4 }, { bits, scheme: 'asymmetric', granularity: { kind: 'tensor' } });
      expect(q.scheme).toBe('asymmetric');
      expect(q.values[0]).toBe(0);
      expect(q.values[2]).toBe(asymmetricMax(bits));
      const xhat = dequantize(q);
      expect(xhat[0]).toBe(-1.25);
      expect(Math.abs(xhat[2] - 7.75)).toBeLessThanOrEqual(7.75 * 2 ** -22);
    }
  });
});

describe('degenerate inputs', () => {
  const view = { groups: 2, tokens: 5, channels: 3 };
  const granularities: Granularity[] = [
    { kind: 'tensor' },
    { kind: 'head' },
    { kind: 'token' },
    { kind: 'block', blockSize: 2 },
    { kind: 'channel' },
    { kind: 'blockChannel', blockSize: 2 },
  ];

  it.each(granularities)('all-zero input (%j): safe scale, exact round trip for every scheme and width', (granularity) => {
    const x = new Float32Array(30);
    for (const bits of BITS) {
      for (const scheme of SCHEMES) {
        const q = quantize(x, view, { bits, scheme, granularity });
        expect(Array.from(q.scales).every((s) => s === SAFE_SCALE)).toBe(true);
        expect(Array.from(dequantize(q))).toEqual(Array.from(x));
      }
    }
  });

  it.each(granularities)('constant input (%j): exact round trip for every scheme and width', (granularity) => {
    const rng = createRng(3);
    for (let trial = 0; trial < 50; trial++) {
      const value = Math.fround((rng() - 0.5) * 10 ** (rng() * 12 - 6));
      const x = new Float32Array(30).fill(value);
      for (const bits of BITS) {
        for (const scheme of SCHEMES) {
          const q = quantize(x, view, { bits, scheme, granularity });
          expect(Array.from(q.scales).every((s) => s > 0)).toBe(true);
          expect(Array.from(dequantize(q))).toEqual(Array.from(x));
        }
      }
    }
  });

  it('values of the same magnitude and mixed signs round-trip exactly (symmetric)', () => {
    const x = new Float32Array([0.1, -0.1, -0.1, 0.1]);
    const q = quantize(x, { groups: 1, tokens: 1, channels: 4 }, { bits: 4, scheme: 'symmetric', granularity: { kind: 'tensor' } });
    expect(Array.from(dequantize(q))).toEqual(Array.from(x));
  });

  it('denormal-range inputs never produce a zero scale', () => {
    const x = new Float32Array([1e-45, -3e-45, 2e-44, 0]);
    for (const scheme of SCHEMES) {
      const q = quantize(x, { groups: 1, tokens: 1, channels: 4 }, { bits: 8, scheme, granularity: { kind: 'tensor' } });
      expect(q.scales[0]).toBeGreaterThanOrEqual(MIN_SCALE);
      const xhat = dequantize(q);
      for (let i = 0; i < 4; i++) expect(Math.abs(xhat[i] - x[i])).toBeLessThanOrEqual(q.scales[0] / 2);
    }
  });

  it('inputs near ±float32 max do not overflow', () => {
    const big = 3.4e38;
    const x = new Float32Array([big, -big, 0, big / 3]);
    for (const bits of BITS) {
      for (const scheme of SCHEMES) {
        const q = quantize(x, { groups: 1, tokens: 1, channels: 4 }, { bits, scheme, granularity: { kind: 'tensor' } });
        expect(Number.isFinite(q.scales[0])).toBe(true);
        const xhat = dequantize(q);
        expect(Array.from(xhat).every(Number.isFinite)).toBe(true);
        expect(Math.abs(xhat[0] - x[0])).toBeLessThanOrEqual(q.scales[0] / 2 + Math.abs(x[0]) * 2 ** -23);
      }
    }
  });
});

describe('bad arguments', () => {
  const view = { groups: 1, tokens: 2, channels: 2 };
  const spec: QuantSpec = { bits: 8, scheme: 'symmetric', granularity: { kind: 'token' } };
  const x = new Float32Array(4);

  it('rejects bad specs with ERR_QATTN_OPTION', () => {
    expectCode(() => quantize(x, view, { ...spec, bits: 3 as QuantBits }), 'ERR_QATTN_OPTION');
    expectCode(() => quantize(x, view, { ...spec, scheme: 'affine' as QuantScheme }), 'ERR_QATTN_OPTION');
    expectCode(() => quantize(x, view, { ...spec, granularity: { kind: 'row' } as unknown as Granularity }), 'ERR_QATTN_OPTION');
    expectCode(() => quantize(x, view, { ...spec, granularity: { kind: 'block', blockSize: 0 } }), 'ERR_QATTN_OPTION');
    expectCode(() => quantize(x, view, { ...spec, granularity: { kind: 'blockChannel', blockSize: 1.5 } }), 'ERR_QATTN_OPTION');
    expectCode(() => quantize(x, view, null as unknown as QuantSpec), 'ERR_QATTN_OPTION');
  });

  it('rejects bad views and lengths with ERR_QATTN_SHAPE', () => {
    expectCode(() => quantize(x, { ...view, tokens: 0 }, spec), 'ERR_QATTN_SHAPE');
    expectCode(() => quantize(x, { ...view, channels: 2.5 }, spec), 'ERR_QATTN_SHAPE');
    expectCode(() => quantize(x, { ...view, groups: -1 }, spec), 'ERR_QATTN_SHAPE');
    expectCode(() => quantize(new Float32Array(5), view, spec), 'ERR_QATTN_SHAPE');
    expectCode(() => dequantize(quantize(x, view, spec), new Float32Array(3)), 'ERR_QATTN_SHAPE');
  });

  it('rejects non-Float32Array and non-finite inputs', () => {
    expectCode(() => quantize(new Float64Array(4) as unknown as Float32Array, view, spec), 'ERR_QATTN_DTYPE');
    expectCode(() => quantize(new Float32Array([0, NaN, 0, 0]), view, spec), 'ERR_QATTN_NONFINITE');
    expectCode(() => quantize(new Float32Array([0, 0, -Infinity, 0]), view, spec), 'ERR_QATTN_NONFINITE');
  });
});
