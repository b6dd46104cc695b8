import { f16round } from '@petamoriken/float16';
import { describe, expect, it } from 'vitest';
import { isQattnError } from './errors.js';
import {
  SAS_COEFFICIENTS,
  SAS_DEFAULT_THRESHOLD,
  SAS_MAX_ABS_ERROR,
  SAS_MAX_REL_ERROR,
  SAS_MAX_THRESHOLD,
  checkSasThreshold,
  sasExp2,
} from './sas.js';

/** Max relative and absolute error of sasExp2 against 2^x over x ∈ [lo, 0]: an even grid plus every fp16 fraction. */
function measure(lo: number): { maxRel: number; maxAbs: number } {
  let maxRel = 0;
  let maxAbs = 0;
  const visit = (x: number): void => {
    const exact = 2 ** x;
    const abs = Math.abs(sasExp2(x, SAS_MAX_THRESHOLD) - exact);
    maxAbs = Math.max(maxAbs, abs);
    maxRel = Math.max(maxRel, abs / exact);
  };
  const points = 1 << 20;
  for (let i = 0; i <= points; i++) visit((lo * i) / points);
  // f values that are exactly fp16 hit the polynomial without input rounding; both kinds of x must meet the bound.
  for (let n = 0; n < -lo; n++) for (let bits = 0; bits < 0x3c00; bits++) visit(-(n + f16round(bits / 0x3c00)));
  return { maxRel, maxAbs };
}

describe('sasExp2', () => {
  it('meets its stated relative error bound on the fp16-normal range [−14, 0], and the bound is tight', () => {
    const { maxRel } = measure(-14);
    expect(maxRel).toBeLessThanOrEqual(SAS_MAX_REL_ERROR);
    // The documented bound must describe this polynomial, not a loose guess.
    expect(maxRel).toBeGreaterThan(0.9 * SAS_MAX_REL_ERROR);
  });

  it('meets its stated absolute error bound on [−24, 0]', () => {
    const { maxAbs } = measure(-24);
    expect(maxAbs).toBeLessThanOrEqual(SAS_MAX_ABS_ERROR);
    expect(maxAbs).toBeGreaterThan(0.9 * SAS_MAX_ABS_ERROR);
  });

  it('gives exactly 1 at x = 0 and exact powers of two at negative integers', () => {
    expect(sasExp2(0)).toBe(1);
    expect(sasExp2(-0)).toBe(1);
    for (let n = 1; n <= 14; n++) expect(sasExp2(-n, SAS_MAX_THRESHOLD)).toBe(2 ** -n);
  });

  it('sets x < −T to exactly 0 and keeps x = −T', () => {
    for (const threshold of [0, 4, 8, SAS_DEFAULT_THRESHOLD, 14]) {
      expect(sasExp2(-threshold - 1e-6, threshold)).toBe(0);
      expect(sasExp2(-threshold - 100, threshold)).toBe(0);
      expect(sasExp2(-threshold, threshold)).toBe(2 ** -threshold);
    }
    expect(sasExp2(-SAS_DEFAULT_THRESHOLD - 0.5)).toBe(0);
    expect(sasExp2(-Infinity)).toBe(0);
    expect(sasExp2(Number.NaN)).toBe(0);
  });

  it('returns fp16 values that never rise by more than one fp16 ulp as x decreases', () => {
    // Horner in fp16 rounds each op, so the polynomial is monotone only up to one ulp of its result.
    let previous = Infinity;
    let worstRiseUlps = 0;
    for (let i = 0; i <= 1 << 16; i++) {
      const y = sasExp2((-14 * i) / (1 << 16), SAS_MAX_THRESHOLD);
      expect(f16round(y)).toBe(y);
      const ulp = 2 ** (Math.floor(Math.log2(y)) - 10);
      worstRiseUlps = Math.max(worstRiseUlps, (y - previous) / ulp);
      previous = y;
    }
    expect(worstRiseUlps).toBeLessThanOrEqual(1);
  });

  it('uses coefficients that are exact fp16 values', () => {
    for (const c of SAS_COEFFICIENTS) expect(f16round(c)).toBe(c);
  });
});

describe('checkSasThreshold', () => {
  it('accepts [0, 24] and rejects anything else with ERR_QATTN_OPTION', () => {
    expect(checkSasThreshold(0)).toBe(0);
    expect(checkSasThreshold(SAS_MAX_THRESHOLD)).toBe(SAS_MAX_THRESHOLD);
    for (const bad of [-1, 24.5, Number.NaN, Infinity, '8', null]) {
      let caught: unknown;
      try {
        checkSasThreshold(bad);
      } catch (err) {
        caught = err;
      }
      expect(isQattnError(caught, 'ERR_QATTN_OPTION')).toBe(true);
    }
  });
});
