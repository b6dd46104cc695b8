// The README's layout table: how accurate and how small the KV cache is for each layout choice.
//
//   pnpm --filter @qattn/kv-cache... build && node packages/kv-cache/scripts/measure-layouts.mjs [lengths] [seeds] [rows]
//   (defaults: 2048,4096,8192,16384, seeds 1,2, every row; about 25 minutes on 2 cores. `rows`: only the rows whose
//   label contains this text)
//
// Data: @qattn/reference's LLM-like generator (outlier K channels, an attention sink at token 0, Student-t V), one
// sequence, 32 query heads over 8 kv heads (GQA 4:1), headDim 128, a prompt of N tokens, then one decode query. Error:
// relative L2 of float64 attention over the dequantized cache against float64 attention over the original K and V —
// the cache's own error, which is what the layout decides (turboDecode adds 0.35–0.7%: its tests).
//
// "cache" rows run the real cache (createKVCache + read()); "layout" rows simulate a layout the cache does not offer
// (built from the same quant-core functions: per-token INT8 → block INT8 → progressive INT4/INT2 with integer
// step/zero, sinks and buffer as in the cache) so the choice between them can be seen. Sizes are bytes allocated by
// a full cache (fixed capacity = N) against fp16, or for simulated rows the same formula.
import { compressProgressive, decompressProgressive, quantize, dequantize, roundHalfEven } from '@qattn/quant-core';
import { attention, compare, generateInputs } from '@qattn/reference';
import { createKVCache, hadamardRotate, hadamardSigns, hadamardUnrotate } from '../dist/index.js';

const lengths = (process.argv[2] ?? '2048,4096,8192,16384').split(',').map(Number);
const seeds = (process.argv[3] ?? '1,2').split(',').map(Number);
const only = (rows) => rows.filter(([label]) => label.includes(process.argv[4] ?? ''));
const HEADS = 32;
const KV_HEADS = 8;
const D = 128;
const PAGE = 64;
const SINKS = 4;

/** Real-cache rows: [label, createKVCache options]. */
const CACHE_ROWS = [
  ['**default**: INT4, K per channel, V per token, 4 sinks, Hadamard', {}],
  ['default without Hadamard rotation', { hadamard: false }],
  ['0 sink tokens', { sinkTokens: 0 }],
  ['1 sink token', { sinkTokens: 1 }],
  ['8 sink tokens', { sinkTokens: 8 }],
  ['16 sink tokens', { sinkTokens: 16 }],
  ['pages of 32 tokens', { pageSize: 32 }],
  ['pages of 128 tokens', { pageSize: 128 }],
  ['INT8 pages (`bits: 8`)', { bits: 8 }],
  ['3/4 of the V heads at INT2 (`lowBitFraction: { k: 0, v: 0.75 }`)', { lowBitFraction: { k: 0, v: 0.75 } }],
  ['the paper\'s 4/2 mix: half the heads at INT2 (`lowBitFraction: 0.5`)', { lowBitFraction: 0.5 }],
  ['a quarter of the heads at INT2 (`lowBitFraction: 0.25`)', { lowBitFraction: 0.25 }],
  ['every head at INT2 (`lowBitFraction: 1`)', { lowBitFraction: 1 }],
  ['every K head at INT2, V at INT4 (`lowBitFraction: { k: 1, v: 0 }`)', { lowBitFraction: { k: 1, v: 0 } }],
  ['every V head at INT2, K at INT4 (`lowBitFraction: { k: 0, v: 1 }`)', { lowBitFraction: { k: 0, v: 1 } }],
];

/**
 * Simulated layouts. Each tensor's page is cut into cells that share an integer step/zero: `channel` (per channel
 * over the page's tokens), `token` with a group size (per token and group of channels). `rounding`: `even` is
 * quant-core's compressProgressive; `up` is the round-half-up it used before (shown for its bias); `float` is a float
 * step and zero per cell (KIVI-style, no integer-domain decompression). `extraBuffer`: INT8 tokens kept beyond the
 * partial page.
 */
const LAYOUT_ROWS = [
  ['default layout (simulated: checks the simulation)', { k: ['channel'], v: ['token', 128] }],
  ['K per token instead of per channel', { k: ['token', 128], v: ['token', 128] }],
  ['V per channel instead of per token', { k: ['channel'], v: ['channel'] }],
  ['V per token, groups of 64 channels', { k: ['channel'], v: ['token', 64] }],
  ['V per token, groups of 32 channels', { k: ['channel'], v: ['token', 32] }],
  ['float step/zero per cell instead of integer', { k: ['channel'], v: ['token', 128], rounding: 'float' }],
  ['integer step/zero, codes rounded half up', { k: ['channel'], v: ['token', 128], rounding: 'up' }],
  ['64 more tokens in the INT8 buffer', { k: ['channel'], v: ['token', 128], extraBuffer: 64 }],
  ['256 more tokens in the INT8 buffer', { k: ['channel'], v: ['token', 128], extraBuffer: 256 }],
];

const pct = (x) => `${(100 * x).toFixed(2)}%`;
const range = (xs) => (Math.min(...xs) === Math.max(...xs) ? pct(xs[0]) : `${pct(Math.min(...xs))}–${pct(Math.max(...xs))}`);

/** Bytes of one (page, kv head) of a simulated layout at 4 bits, K and V: codes + step/zero per cell + block scale. */
function simulatedPageBytes({ k, v, rounding }) {
  const cells = ([axis, group]) => (axis === 'channel' ? D : (PAGE * D) / group);
  const meta = rounding === 'float' ? 4 : 2; // fp16 step and zero, or an integer byte each
  return 2 * ((PAGE * D) / 2 + 4) + meta * (cells(k) + cells(v));
}

/** Cells of a page `[PAGE, D]` as a matrix whose columns share a step/zero: `[rows, columns]` and the index maps. */
function cellMatrix([axis, group]) {
  if (axis === 'channel') return { rows: PAGE, cols: D, at: (t, d) => t * D + d };
  const groups = D / group;
  return { rows: group, cols: PAGE * groups, at: (t, d) => (d % group) * PAGE * groups + t * groups + Math.floor(d / group) };
}

/** A page of one head, rotated rows `[PAGE, D]` (float64), through the simulated pipeline; returns the dequantized page. */
function simulatePage(page, cell, rounding) {
  // Per-token INT8 then one block scale, as the cache's buffer and flush do.
  const tokenInt8 = quantize(Float32Array.from(page), { groups: 1, tokens: PAGE, channels: D }, { bits: 8, scheme: 'symmetric', granularity: { kind: 'token' } });
  const rows = dequantize(tokenInt8);
  if (rounding === 'float') {
    const { rows: r, cols, at } = cellMatrix(cell);
    const matrix = new Float32Array(r * cols);
    for (let t = 0; t < PAGE; t++) for (let d = 0; d < D; d++) matrix[at(t, d) ] = rows[t * D + d];
    const transposed = new Float32Array(r * cols); // [cols, r]: quantize's 'token' cells are rows
    for (let i = 0; i < r; i++) for (let c = 0; c < cols; c++) transposed[c * r + i] = matrix[i * cols + c];
    const back = dequantize(quantize(transposed, { groups: 1, tokens: cols, channels: r }, { bits: 4, scheme: 'asymmetric', granularity: { kind: 'token' } }));
    const out = new Float64Array(PAGE * D);
    for (let t = 0; t < PAGE; t++) for (let d = 0; d < D; d++) { const at2 = at(t, d); out[t * D + d] = back[(at2 % cols) * r + Math.floor(at2 / cols)]; }
    return out;
  }
  let absMax = 0;
  for (const x of rows) absMax = Math.max(absMax, Math.abs(x));
  const blockScale = Math.fround(absMax / 127) || 1;
  const { rows: r, cols, at } = cellMatrix(cell);
  const int8 = new Int8Array(r * cols);
  for (let t = 0; t < PAGE; t++) for (let d = 0; d < D; d++) int8[at(t, d)] = Math.max(-127, Math.min(127, roundHalfEven(rows[t * D + d] / blockScale)));
  let restored;
  if (rounding === 'up') {
    restored = new Int8Array(r * cols);
    for (let c = 0; c < cols; c++) {
      let lo = 127;
      let hi = -127;
      for (let i = 0; i < r; i++) { lo = Math.min(lo, int8[i * cols + c]); hi = Math.max(hi, int8[i * cols + c]); }
      const step = Math.max(1, Math.ceil((hi - lo) / 15));
      for (let i = 0; i < r; i++) restored[i * cols + c] = Math.min(127, Math.floor((2 * (int8[i * cols + c] - lo) + step) / (2 * step)) * step + lo);
    }
  } else {
    restored = decompressProgressive(compressProgressive(int8, r, cols, 4));
  }
  const out = new Float64Array(PAGE * D);
  for (let t = 0; t < PAGE; t++) for (let d = 0; d < D; d++) out[t * D + d] = restored[at(t, d)] * blockScale;
  return out;
}

/** Dequantized K and V `[kvHeads, n, D]` of a simulated layout (rotated in, un-rotated out, like the cache). */
function simulate(k, v, n, layout) {
  const signs = hadamardSigns(D);
  const row = new Float64Array(D);
  const result = [];
  for (const [x, cell] of [[k, layout.k], [v, layout.v]]) {
    const out = new Float32Array(x.length);
    for (let g = 0; g < KV_HEADS; g++) {
      const rotated = new Float64Array(n * D);
      for (let t = 0; t < n; t++) {
        for (let d = 0; d < D; d++) row[d] = x[(g * n + t) * D + d];
        hadamardRotate(row, signs);
        rotated.set(row, t * D);
      }
      const pages = Math.floor((n - SINKS - (layout.extraBuffer ?? 0)) / PAGE);
      const restored = rotated.slice();
      for (let p = 0; p < pages; p++) {
        const start = (SINKS + p * PAGE) * D;
        restored.set(simulatePage(rotated.subarray(start, start + PAGE * D), cell, layout.rounding), start);
      }
      const buffered = SINKS + pages * PAGE;
      const tail = quantize(Float32Array.from(rotated.subarray(buffered * D)), { groups: 1, tokens: n - buffered, channels: D }, { bits: 8, scheme: 'symmetric', granularity: { kind: 'token' } });
      restored.set(dequantize(tail), buffered * D);
      for (let t = 0; t < n; t++) {
        row.set(restored.subarray(t * D, (t + 1) * D));
        hadamardUnrotate(row, signs);
        for (let d = 0; d < D; d++) out[(g * n + t) * D + d] = row[d];
      }
    }
    result.push(out);
  }
  return { k: result[0], v: result[1] };
}

const errors = new Map(); // label → length → [error per seed]
const ratios = new Map(); // label → length → ratio
const record = (label, n, error, ratio) => {
  if (!errors.has(label)) errors.set(label, new Map());
  if (!errors.get(label).has(n)) errors.get(label).set(n, []);
  errors.get(label).get(n).push(error);
  if (!ratios.has(label)) ratios.set(label, new Map());
  ratios.get(label).set(n, ratio);
};

for (const n of lengths) {
  for (const seed of seeds) {
    const shape = { batch: 1, heads: HEADS, kvHeads: KV_HEADS, seqQ: 1, seqKV: n, headDim: D };
    const { q, k, v } = generateInputs(shape, { kind: 'llm', seed });
    const exact = attention(q, k, v, shape, { causal: true });
    const errorOf = (read) => compare(attention(q, read.k, read.v, shape, { causal: true }), exact).relL2;
    for (const [label, options] of only(CACHE_ROWS)) {
      const cache = await createKVCache({ batch: 1, kvHeads: KV_HEADS, headDim: D, backend: 'cpu', capacity: n, ...options });
      cache.append(k, v);
      record(label, n, errorOf(cache.read()), cache.memory().compressionRatio);
      cache.dispose();
    }
    for (const [label, layout] of only(LAYOUT_ROWS)) {
      const extra = layout.extraBuffer ?? 0;
      const pages = Math.floor((n - SINKS - extra) / PAGE);
      const bytes = KV_HEADS * (pages * simulatedPageBytes(layout) + 2 * (SINKS * D * 4 + Math.max(PAGE, n - SINKS - pages * PAGE) * (D + 4)));
      record(label, n, errorOf(simulate(k, v, n, layout)), (4 * KV_HEADS * D * n) / bytes);
    }
    console.error(`measured N = ${n}, seed ${seed}`);
  }
}

const longest = Math.max(...lengths);
console.log(`| layout | ${lengths.map((n) => `N = ${n}`).join(' | ')} | vs fp16 at ${longest} |`);
console.log(`| --- | ${lengths.map(() => '---').join(' | ')} | --- |`);
for (const [label] of only([...CACHE_ROWS, ...LAYOUT_ROWS])) {
  const cells = lengths.map((n) => range(errors.get(label).get(n)));
  console.log(`| ${label} | ${cells.join(' | ')} | ${ratios.get(label).get(longest).toFixed(2)}× |`);
}
