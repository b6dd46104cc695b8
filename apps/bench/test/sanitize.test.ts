import { describe, expect, it } from 'vitest';
import { KERNEL_ALGORITHMS } from '../src/algorithms.js';
import { caseOptions, runSanitize, SANITIZE_CASES, type SanitizeCase } from '../src/sanitize.js';

describe('the sanitizer workload', () => {
  it('covers every kernel algorithm through both entries, with lengths off every tile size', () => {
    for (const algorithm of Object.keys(KERNEL_ALGORITHMS)) {
      const cases = SANITIZE_CASES.filter((c) => c.algorithm === algorithm);
      expect(cases.some((c) => c.entry === 'typed'), algorithm).toBe(true);
      // Two device calls on one shape (the cached plan is reused), then another shape.
      const device = cases.filter((c) => c.entry === 'device');
      expect(device.length).toBeGreaterThanOrEqual(3);
      expect(device[0].shape).toEqual(device[1].shape);
      expect(device[2].shape).not.toEqual(device[0].shape);
      expect(cases.some((c) => c.shape.seqQ % 16 !== 0 && c.shape.seqKV % 16 !== 0), algorithm).toBe(true);
      expect(cases.some((c) => c.shape.causal && c.shape.kvHeads < c.shape.heads), algorithm).toBe(true);
    }
  });

  it('passes the algorithm options first, then the case options and the mask', () => {
    const c = SANITIZE_CASES.find((x) => x.algorithm === 'flash-int8-pv-int8' && x.options.blockN === 32)!;
    expect(caseOptions(c)).toEqual({ pv: 'int8', blockN: 32, causal: true });
  });

  it('fails non-finite outputs and errors, counts ERR_QATTN_UNSUPPORTED apart, and logs one line per call', async () => {
    const lines: string[] = [];
    const cases: SanitizeCase[] = SANITIZE_CASES.filter((c) => c.algorithm === 'turbo-attn').slice(0, 3);
    const results = await runSanitize(cases, {
      inputs: (s) => ({ q: new Float32Array(s.heads * s.seqQ * s.headDim), k: new Float32Array(1), v: new Float32Array(1) }),
      async run(c, inputs) {
        if (c === cases[1]) return Float32Array.of(1, Number.NaN);
        if (c === cases[2]) throw Object.assign(new Error('sas: false is not implemented on cuda'), { code: 'ERR_QATTN_UNSUPPORTED' });
        return new Float32Array(inputs.q.length).fill(0.5);
      },
      oracle: async (_c, inputs) => new Float32Array(inputs.q.length).fill(0.5),
      relL2: () => 1e-5,
      log: (line) => void lines.push(line),
    });
    expect(results.map((r) => r.status)).toEqual(['ok', 'failed', 'unsupported']);
    expect(results[0].vsOracle).toBe(1e-5);
    expect(results[1].error).toEqual({ code: 'ERR_BENCH_NONFINITE', message: 'output[1] = NaN' });
    expect(lines[0]).toBe('sanitize turbo-attn typed defaults, causal GQA [B1 H2/1 Sq77 Skv150 D128 causal]: ok, vs cpu oracle 1.00e-5');
    expect(lines).toHaveLength(3);
  });
});
