import { type AttentionShape, QattnError, resolveOptions } from '@qattn/quant-core';
import { describe, expect, it } from 'vitest';
import { attention } from './attention.js';
import { badInputCases, checkBadInputCase, checkConformanceCase, conformanceCases, defineConformanceSuite } from './conformance.js';

/** The reference itself, rounded to float32, behind the option validation a real backend has. */
async function exactBackend(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape, options: Record<string, unknown>) {
  const resolved = resolveOptions<{ causal?: boolean; scale?: number }>(
    { causal: { kind: 'passthrough', default: undefined }, scale: { kind: 'passthrough', default: undefined } },
    options,
    'exact',
  );
  return Float32Array.from(attention(q, k, v, shape, resolved));
}

// float32 rounding of the output alone: ~2^-24 relative per element.
defineConformanceSuite({ name: 'reference rounded to float32', run: exactBackend, bound: () => 1e-6, test: { describe, it } });

describe('the conformance suite catches broken backends', () => {
  const causalCase = conformanceCases().find((c) => c.name === 'len100-causal')!;
  const gqaCase = conformanceCases().find((c) => c.name === 'gqa4')!;

  it('fails a backend that ignores the causal mask', async () => {
    const noMask = async (q: Float32Array, k: Float32Array, v: Float32Array, s: AttentionShape) => Float32Array.from(attention(q, k, v, s));
    await expect(checkConformanceCase({ run: noMask, bound: () => 0.05 }, causalCase)).rejects.toThrow(/relative L2/);
  });

  it('fails a backend that maps GQA heads wrongly', async () => {
    const wrongGqa = async (q: Float32Array, k: Float32Array, v: Float32Array, s: AttentionShape) => {
      // Treat kv head (h mod kvHeads) as the one query head h reads: the interleaved mapping, not the grouped one.
      const out = new Float32Array(q.length);
      const { batch, heads, seqQ, headDim } = s;
      const kvHeads = s.kvHeads!;
      const per = seqQ * headDim;
      for (let b = 0; b < batch; b++)
        for (let h = 0; h < heads; h++) {
          const one = { batch: 1, heads: 1, seqQ, seqKV: s.seqKV, headDim };
          const kvh = h % kvHeads;
          const kvPer = s.seqKV * headDim;
          const r = attention(q.slice((b * heads + h) * per, (b * heads + h + 1) * per), k.slice((b * kvHeads + kvh) * kvPer, (b * kvHeads + kvh + 1) * kvPer), v.slice((b * kvHeads + kvh) * kvPer, (b * kvHeads + kvh + 1) * kvPer), one);
          out.set(r, (b * heads + h) * per);
        }
      return out;
    };
    await expect(checkConformanceCase({ run: wrongGqa, bound: () => 0.05 }, gqaCase)).rejects.toThrow(/relative L2/);
  });

  it('fails a backend that mutates its input', async () => {
    const mutating = async (q: Float32Array, k: Float32Array, v: Float32Array, s: AttentionShape) => {
      const out = Float32Array.from(attention(q, k, v, s));
      q[0] += 1;
      return out;
    };
    await expect(checkConformanceCase({ run: mutating, bound: () => 1 }, gqaCase)).rejects.toThrow(/modified/);
  });

  it('fails a backend that throws the wrong error code or a plain Error', async () => {
    const bad = badInputCases().find((c) => c.code === 'ERR_QATTN_NONFINITE')!;
    await expect(checkBadInputCase({ run: async () => { throw new QattnError('ERR_QATTN_SHAPE', 'k[5]'); } }, bad)).rejects.toThrow(/expected QattnError/);
    await expect(checkBadInputCase({ run: async () => { throw new Error('k[5] is NaN'); } }, bad)).rejects.toThrow(/expected QattnError/);
    await expect(checkBadInputCase({ run: async () => new Float32Array(0) }, bad)).rejects.toThrow(/succeeded/);
  });
});
