import { describe, expect, it } from 'vitest';
import { attention } from './attention.js';
import { generateInputs } from './generate.js';
import { attentionRows, selectRows } from './rows.js';

describe('attentionRows', () => {
  it('equals the same rows of full float64 attention (GQA, causal, seqQ < seqKV)', () => {
    const shape = { batch: 2, heads: 4, kvHeads: 2, seqQ: 9, seqKV: 17, headDim: 8 };
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed: 3 });
    const rows = [0, 4, 8];
    const full = Float32Array.from(attention(q, k, v, shape, { causal: true }));
    const sampled = attentionRows(q, k, v, shape, true, rows);
    const expected = selectRows(full, shape, rows);
    expect(sampled).toHaveLength(expected.length);
    for (let i = 0; i < expected.length; i++) expect(sampled[i]).toBeCloseTo(expected[i], 5);
  });
});
