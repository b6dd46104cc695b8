// Fits the SAS polynomial p(f) ≈ 2^−f on f ∈ [0, 1] (degree 3) and prints fp16 coefficients for src/sas.ts.
//
//   node packages/quant-core/scripts/fit-sas.mjs
//
// 1. Remez exchange on the RELATIVE error (the 2^−n factor scales p exactly, so relative error is what survives).
// 2. The float64 minimax coefficients are rounded to fp16, then every combination within ±2 fp16 ulps of each is
//    scored by the max relative error of the fp16-faithful Horner evaluation (each op rounded to fp16) over every
//    fp16 value of f in [0, 1]; the best combination is printed. This recovers most of what rounding the float64
//    minimax coefficients to fp16 loses.
import { f16round } from '@petamoriken/float16';

const DEGREE = 3;
const target = (f) => 2 ** -f;

/** Solves A·x = b (small dense system, partial pivoting). */
function solve(a, b) {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = c + 1; r < n; r++) {
      const k = m[r][c] / m[c][c];
      for (let j = c; j <= n; j++) m[r][j] -= k * m[c][j];
    }
  }
  const x = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let j = r + 1; j < n; j++) s -= m[r][j] * x[j];
    x[r] = s / m[r][r];
  }
  return x;
}

const horner64 = (c, f) => c.reduceRight((acc, ci) => acc * f + ci, 0);
const relErr64 = (c, f) => (horner64(c, f) - target(f)) / target(f);

/** Remez exchange for the minimax relative error of a degree-3 polynomial on [0, 1]. */
function remez() {
  const n = DEGREE + 2;
  let nodes = Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((Math.PI * i) / (n - 1)));
  let coeffs = [];
  const grid = Array.from({ length: 200_001 }, (_, i) => i / 200_000);
  for (let iter = 0; iter < 30; iter++) {
    // p(x_i) − g(x_i) = (−1)^i · E · g(x_i)  →  Σ c_k x_i^k − (−1)^i E g(x_i) = g(x_i)
    const a = nodes.map((x, i) => [...Array.from({ length: DEGREE + 1 }, (_, k) => x ** k), -((-1) ** i) * target(x)]);
    const sol = solve(a, nodes.map(target));
    coeffs = sol.slice(0, DEGREE + 1);
    // New nodes: the extremum of the error in each interval between its sign changes.
    const err = grid.map((f) => relErr64(coeffs, f));
    const next = [];
    let start = 0;
    for (let i = 1; i <= grid.length; i++) {
      if (i === grid.length || Math.sign(err[i]) !== Math.sign(err[start])) {
        let best = start;
        for (let j = start; j < i; j++) if (Math.abs(err[j]) > Math.abs(err[best])) best = j;
        next.push(grid[best]);
        start = i;
      }
    }
    if (next.length !== n) break;
    nodes = next;
  }
  const maxRel = grid.reduce((worst, f) => Math.max(worst, Math.abs(relErr64(coeffs, f))), 0);
  return { coeffs, maxRel };
}

/** Every fp16 value in [0, 1]. */
function fp16Inputs() {
  const out = new Set();
  for (let i = 0; i <= 1 << 16; i++) out.add(f16round(i / (1 << 16)));
  for (let e = -24; e < 0; e++) for (let m = 0; m < 1024; m++) out.add(f16round(2 ** e * (1 + m / 1024)));
  return [...out].filter((f) => f >= 0 && f <= 1).sort((a, b) => a - b);
}

function horner16(c, f) {
  let p = c[3];
  p = f16round(p * f);
  p = f16round(p + c[2]);
  p = f16round(p * f);
  p = f16round(p + c[1]);
  p = f16round(p * f);
  return f16round(p + c[0]);
}

function maxRel16(c, inputs) {
  let worst = 0;
  for (const f of inputs) worst = Math.max(worst, Math.abs(horner16(c, f) / target(f) - 1));
  return worst;
}

/** The fp16 value `steps` ulps away from fp16 value `x`. */
function ulpStep(x, steps) {
  const ulp = 2 ** (Math.floor(Math.log2(Math.abs(x))) - 10);
  return f16round(x + steps * ulp);
}

const { coeffs, maxRel } = remez();
console.log('float64 minimax (relative):', coeffs.map((c) => c.toPrecision(12)).join(', '), ' max rel', maxRel.toExponential(3));
const inputs = fp16Inputs();
const rounded = coeffs.map(f16round);
console.log('rounded to fp16:', rounded.join(', '), ' fp16-eval max rel', maxRel16(rounded, inputs).toExponential(3));
let best = { c: rounded, err: maxRel16(rounded, inputs) };
const R = 2;
for (let a = -R; a <= R; a++)
  for (let b = -R; b <= R; b++)
    for (let c = -R; c <= R; c++)
      for (let d = -R; d <= R; d++) {
        const cand = [ulpStep(rounded[0], a), ulpStep(rounded[1], b), ulpStep(rounded[2], c), ulpStep(rounded[3], d)];
        const err = maxRel16(cand, inputs);
        if (err < best.err) best = { c: cand, err };
      }
console.log('best fp16 coefficients c0..c3:', best.c.join(', '), ' fp16-eval max rel', best.err.toExponential(3));
