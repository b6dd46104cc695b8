import { MIN_SCALE, QattnError, SAFE_SCALE, SAS_MAX_THRESHOLD } from '@qattn/quant-core';
import { type SasPrecision, exponentWgsl, wgslConstants } from '@qattn/webgpu-runtime';
import type { DecodeTiles } from '../decode-tile-schedule.js';

/** What every decode kernel's WGSL is generated from: the cache's shape, the tiling and the device's arithmetic. */
export interface DecodeKernelConfig {
  headDim: number;
  pageSize: number;
  sinkTokens: number;
  tiles: DecodeTiles;
  /**
   * The arithmetic SAS runs in (webgpu-runtime's `chooseSasPrecision`: f16, the oracle's own, where the device has
   * shader-f16). The exponent itself (exp2 or SAS), SAS's threshold and its sparse skip are uniforms: one pipeline
   * serves every softmax variant.
   */
  sasPrecision: SasPrecision;
  /** The cache rotates its rows (Hadamard): decode rotates q and un-rotates the output. */
  rotate: boolean;
  /** `dot4I8Packed` (language feature packed_4x8_integer_dot_product) or plain integer math. */
  packedDot4: boolean;
  /**
   * Loops over constant extents get a uniform 0 added to their bound so that the shader compiler keeps them rolled:
   * on software adapters (lavapipe compiles through LLVM) unrolled kernels take 3–5× longer to build (measured: the
   * page pass 2.4–5.4 s → 1.0 s), far more than a decode step runs there.
   */
  rolledLoops: boolean;
}

/** Pipeline cache key of everything {@link decodeHeader} and the shared snippets read. */
export function decodeKernelKey(config: DecodeKernelConfig): string {
  const { headDim, pageSize, sinkTokens, tiles, sasPrecision, rotate, packedDot4, rolledLoops } = config;
  return [
    `d${headDim}-t${pageSize}-s${sinkTokens}`,
    `r${tiles.rowCapacity}-wg${tiles.workgroupSize}-tpr${tiles.threadsPerRow}-kt${tiles.keysPerTile}-dv${tiles.channelsPerTile}`,
    `sas-${sasPrecision}`,
    rotate ? 'rot' : 'norot',
    packedDot4 ? 'dot4' : 'intmath',
    rolledLoops ? 'rolled' : 'unrolled',
  ].join(':');
}

/**
 * The per-call uniform of every decode kernel (`struct Params`), in declaration order; offsets index the `tables`
 * buffer (decode-plan.ts: lengths, both page tables and widths, the rotation signs, the K means).
 */
export const DECODE_PARAM_NAMES = [
  'batch',
  'heads',
  'kv_heads',
  'query_tokens',
  'group_size',
  'rows_total',
  'row_tiles',
  'rows_per_tile',
  'max_pages',
  'max_splits',
  'pages_per_split',
  'sm_scale_log2',
  'k_table',
  'k_bits',
  'v_table',
  'v_bits',
  'signs',
  'k_mean',
  'exponent',
  'skip_sparse',
  'sas_threshold',
  'loop_pad',
] as const;

/** The f32 fields of {@link DECODE_PARAM_NAMES}; the rest are u32. */
export const DECODE_FLOAT_PARAMS: ReadonlySet<string> = new Set(['sm_scale_log2', 'sas_threshold']);

/** `exponent` uniform values. */
export const DECODE_EXPONENT = { exp2: 0, sas: 1 } as const;

const PARAMS_WGSL = `struct Params {
${DECODE_PARAM_NAMES.map((name) => `  ${name}: ${DECODE_FLOAT_PARAMS.has(name) ? 'f32' : 'u32'},`).join('\n')}
}`;

/**
 * exponent2(x) = 2^x for x ≤ 0 by the uniform `exponent`: exact exp2, or SAS — webgpu-runtime's WGSL of it (the
 * prefill kernels' own, in `sasPrecision`) with its threshold constant turned into the uniform `sas_threshold`. It is
 * generated at the largest threshold, whose f16 form also rounds results below 2^−14 to fp16 subnormals: the oracle
 * does that at every threshold, and for T ≤ 14 no result lies there, so the one form is exact for all of them.
 */
function exponentWgslOf(precision: SasPrecision): string {
  const sas = exponentWgsl('sas', SAS_MAX_THRESHOLD, precision).wgsl;
  const declaration = /const SAS_THRESHOLD: f32 = [^;]+;/;
  if (!declaration.test(sas)) throw new QattnError('ERR_QATTN_DEVICE', 'turboDecode webgpu: webgpu-runtime\'s SAS WGSL no longer declares SAS_THRESHOLD');
  const adapted = sas
    .replace(declaration, '')
    .replace(/\bSAS_THRESHOLD\b/g, 'params.sas_threshold')
    .replace(/\bexponent2_is_zero\b/g, 'sas_is_zero')
    .replace(/\bexponent2\b/g, 'sas_exponent2');
  return `${adapted}
fn exponent2(x: f32) -> f32 {
  if (params.exponent == ${DECODE_EXPONENT.sas}u) {
    return sas_exponent2(x);
  }
  return exp2(x);
}`;
}

const DOT4_PACKED = `fn dot4_i8(a: u32, b: u32) -> i32 {
  return dot4I8Packed(a, b);
}`;

// Sign-extends byte i of each word: shift it to the top, then arithmetic-shift back down.
const DOT4_FALLBACK = `fn dot4_i8(a: u32, b: u32) -> i32 {
  var sum = 0;
  for (var i = 0u; i < bound(4u); i++) {
    let shift = 24u - 8u * i;
    sum += (bitcast<i32>(a << shift) >> 24u) * (bitcast<i32>(b << shift) >> 24u);
  }
  return sum;
}`;

/**
 * Constants, the uniform, the exponent, dot4 and the index helpers every decode kernel starts with. Masked logits are
 * MASKED (not −∞: WGSL implementations need not keep infinities), and a row that has seen no key has the running
 * max MASKED; anything at or below MASK_LIMIT counts as "no key". `bound(n)` is a loop bound: n, plus the uniform 0
 * `loop_pad` where loops stay rolled.
 */
export function decodeHeader(config: DecodeKernelConfig, scoreStride: number): string {
  const { headDim, pageSize, sinkTokens, tiles, sasPrecision, rotate, packedDot4, rolledLoops } = config;
  return [
    sasPrecision === 'f16' ? 'enable f16;' : '',
    wgslConstants({
      HEAD_DIM: headDim,
      D_WORDS: headDim / 4,
      PAGE_SIZE: pageSize,
      T_WORDS: pageSize / 4,
      SINK_TOKENS: sinkTokens,
      ROWS: tiles.rowCapacity,
      WG: tiles.workgroupSize,
      TPR: tiles.threadsPerRow,
      ACC_N: Math.ceil((tiles.rowCapacity * headDim) / tiles.workgroupSize),
      KT: tiles.keysPerTile,
      DV: tiles.channelsPerTile,
      K_STRIDE: headDim / 4 + 1,
      V_STRIDE: pageSize / 4 + 1,
      SCORE_STRIDE: Math.max(1, scoreStride),
      STATE_STRIDE: headDim + 2,
      QP_STRIDE: headDim / 4 + 2,
      ROTATE: rotate,
      MIN_SCALE: { f32: MIN_SCALE },
      SAFE_SCALE: { f32: SAFE_SCALE },
      MASKED: { f32: -3e38 },
      MASK_LIMIT: { f32: -1e38 },
      LN2: { f32: Math.LN2 },
    }),
    PARAMS_WGSL,
    `fn bound(n: u32) -> u32 {\n  return n${rolledLoops ? ' + params.loop_pad' : ''};\n}`,
    exponentWgslOf(sasPrecision),
    packedDot4 ? DOT4_PACKED : DOT4_FALLBACK,
    `// Full pages and splits of a sequence of \`length\` tokens (kv-cache tokenPlacement, splitKVSchedule).
fn pages_of(length: u32) -> u32 {
  return select(0u, (length - SINK_TOKENS) / PAGE_SIZE, length > SINK_TOKENS);
}
fn splits_of(length: u32) -> u32 {
  return min(params.max_splits, max(1u, (pages_of(length) + params.pages_per_split - 1u) / params.pages_per_split));
}
// First row and rows of row tile \`tile\` (0 rows: a balanced tiling can leave the last tile empty).
fn tile_row0(tile: u32) -> u32 {
  return tile * params.rows_per_tile;
}
fn tile_rows(tile: u32) -> u32 {
  return select(0u, min(params.rows_per_tile, params.rows_total - tile_row0(tile)), tile_row0(tile) < params.rows_total);
}
fn length_of(b: u32) -> u32 {
  return u32(max(tables[b], 0));
}
// Split state of (group, split, row): acc[HEAD_DIM] (unnormalized O), running max m (base 2), running sum l.
fn state_base(group: u32, split: u32, row: u32) -> u32 {
  return ((group * params.max_splits + split) * params.rows_total + row) * STATE_STRIDE;
}
// Prepared q row of (group, row): INT8 codes [D_WORDS] (int8 ×4), scale s_q, shift δ (f32 bits).
fn qprep_base(group: u32, row: u32) -> u32 {
  return (group * params.rows_total + row) * QP_STRIDE;
}`,
  ].join('\n');
}

/**
 * The online softmax of a chunk, shared by every pass that attends to keys (the CPU oracle's `softmaxChunk`), and the
 * split state's load/store. `scores` holds the chunk's logits `[ROWS, SCORE_STRIDE]` on entry and its P on exit; each
 * invocation keeps ACC_N elements of O (element e = tid + i·WG is row e / HEAD_DIM, channel e % HEAD_DIM).
 */
export const SOFTMAX_WGSL = `
var<workgroup> scores: array<f32, ROWS * SCORE_STRIDE>; // (ROWS, chunk) logits, then P
var<workgroup> red_f: array<f32, WG>; // per-invocation partial max / sum
var<workgroup> red_u: array<u32, WG>; // per-invocation "keeps a score" (sparse skip)
var<workgroup> row_max: array<f32, ROWS>; // m, base 2 (MASKED: no key yet)
var<workgroup> row_sum: array<f32, ROWS>; // l
var<workgroup> row_alpha: array<f32, ROWS>; // exp2(m_old − m_new) of the current chunk
var<workgroup> chunk_kept: u32;
var<private> acc: array<f32, ACC_N>; // this invocation's elements of O

fn clear_state(tid: u32) {
  for (var i = 0u; i < bound(ACC_N); i++) {
    acc[i] = 0.0;
  }
  if (tid < ROWS) {
    row_max[tid] = MASKED;
    row_sum[tid] = 0.0;
  }
}

fn load_state(tid: u32, group: u32, split: u32, row0: u32, rows: u32) {
  for (var i = 0u; i < bound(ACC_N); i++) {
    let e = tid + i * WG;
    let r = e / HEAD_DIM;
    var value = 0.0;
    if (r < rows) {
      value = state[state_base(group, split, row0 + r) + e % HEAD_DIM];
    }
    acc[i] = value;
  }
  if (tid < rows) {
    let base = state_base(group, split, row0 + tid);
    row_max[tid] = state[base + HEAD_DIM];
    row_sum[tid] = state[base + HEAD_DIM + 1u];
  }
}

fn store_state(tid: u32, group: u32, split: u32, row0: u32, rows: u32) {
  for (var i = 0u; i < bound(ACC_N); i++) {
    let e = tid + i * WG;
    let r = e / HEAD_DIM;
    if (r < rows) {
      state[state_base(group, split, row0 + r) + e % HEAD_DIM] = acc[i];
    }
  }
  if (tid < rows) {
    let base = state_base(group, split, row0 + tid);
    state[base + HEAD_DIM] = row_max[tid];
    state[base + HEAD_DIM + 1u] = row_sum[tid];
  }
}

// Online-softmax update of a chunk of n keys: m' = max(m, max x), p = exponent2(x − m'), l ← α·l + Σ p, O ← α·O.
// Returns false, changing nothing, when the sparse skip (uniform skip_sparse) drops the chunk (no row keeps a visible score ≥ m − T).
// Workgroup-uniform: every invocation calls it with the same rows and n.
fn softmax_chunk(tid: u32, rows: u32, n: u32) -> bool {
  let r = tid / TPR;
  let lane = tid % TPR;
  var local_max = MASKED;
  var local_kept = 0u;
  if (r < rows) {
    let m_old = row_max[r];
    for (var t = lane; t < n; t += TPR) {
      let x = scores[r * SCORE_STRIDE + t];
      local_max = max(local_max, x);
      if (x > MASK_LIMIT && x >= m_old - params.sas_threshold) {
        local_kept = 1u;
      }
    }
  }
  red_f[tid] = local_max;
  red_u[tid] = local_kept;
  workgroupBarrier();
  if (tid == 0u) {
    var kept = 0u;
    for (var j = 0u; j < bound(WG); j++) {
      kept |= red_u[j];
    }
    chunk_kept = kept;
  }
  let kept = workgroupUniformLoad(&chunk_kept);
  if (params.skip_sparse != 0u && kept == 0u) {
    return false;
  }
  if (lane == 0u && r < rows) {
    var chunk_max = MASKED;
    for (var j = 0u; j < bound(TPR); j++) {
      chunk_max = max(chunk_max, red_f[tid + j]);
    }
    let m_old = row_max[r];
    let m_new = max(chunk_max, m_old);
    var alpha = 1.0;
    if (m_new > MASK_LIMIT && m_old != m_new) {
      // A row's first keys: its O and l are 0, α only has to be finite.
      alpha = select(exponent2(m_old - m_new), 0.0, m_old <= MASK_LIMIT);
    }
    row_alpha[r] = alpha;
    row_max[r] = m_new;
  }
  workgroupBarrier();
  var local_sum = 0.0;
  if (r < rows) {
    let m = row_max[r];
    let live = m > MASK_LIMIT;
    for (var t = lane; t < n; t += TPR) {
      let x = scores[r * SCORE_STRIDE + t];
      var p = 0.0;
      if (live && x > MASK_LIMIT) {
        p = exponent2(x - m);
      }
      scores[r * SCORE_STRIDE + t] = p;
      local_sum += p;
    }
  }
  red_f[tid] = local_sum;
  workgroupBarrier();
  if (lane == 0u && r < rows && row_max[r] > MASK_LIMIT) {
    var sum = 0.0;
    for (var j = 0u; j < bound(TPR); j++) {
      sum += red_f[tid + j];
    }
    row_sum[r] = row_alpha[r] * row_sum[r] + sum;
  }
  for (var i = 0u; i < bound(ACC_N); i++) {
    let rr = (tid + i * WG) / HEAD_DIM;
    if (rr < rows) {
      acc[i] *= row_alpha[rr];
    }
  }
  workgroupBarrier();
  return true;
}`;

/**
 * Attention over one INT8 chunk (a page, or the INT8 buffer), shared by decode_pages and decode_buffer, which define
 * where its codes come from: \`load_k_tile(tid, key0, n)\` fills k_tile with keys [key0, key0 + KT) as INT8 ×4
 * `[KT, D_WORDS]`, \`load_v_tile(tid, d0)\` fills v_tile with channels [d0, d0 + DV) of V channel-major
 * `[DV, T_WORDS]` (keys packed along words), and the caller fills k_scale_wg / v_scale_wg with each key's scales.
 *
 *   x = (q̂·k̂ in INT32)·s_q·s_k·σ·log2 e + δ        (masked past each row's last key)
 *   P̂ = round(127·p·s_v / max(p·s_v)),  O += (P̂·v̂ in INT32)·max(p·s_v)/127   (the oracle's pvInt8)
 */
export const CHUNK_WGSL = `
var<workgroup> q_codes_wg: array<u32, ROWS * D_WORDS>; // (ROWS, D_WORDS) q̂
var<workgroup> q_scale_wg: array<f32, ROWS>; // s_q
var<workgroup> q_shift_wg: array<f32, ROWS>; // δ (base 2)
var<workgroup> last_key_wg: array<i32, ROWS>; // last visible key of each row
var<workgroup> k_tile: array<u32, KT * K_STRIDE>; // (KT, D_WORDS) + pad, k̂
var<workgroup> v_tile: array<u32, DV * V_STRIDE>; // (DV, T_WORDS) + pad, v̂ channel-major
var<workgroup> k_scale_wg: array<f32, PAGE_SIZE>; // s_k of each key of the chunk
var<workgroup> v_scale_wg: array<f32, PAGE_SIZE>; // s_v of each key of the chunk
var<workgroup> p_codes: array<u32, ROWS * T_WORDS>; // (ROWS, T_WORDS) P̂, uint7 ×4
var<workgroup> p_descale: array<f32, ROWS>; // max(p·s_v) / 127
var<workgroup> p_tocode: array<f32, ROWS>; // 127 / max(p·s_v)

fn load_q(tid: u32, group: u32, row0: u32, rows: u32, length: u32) {
  for (var e = tid; e < rows * D_WORDS; e += WG) {
    let r = e / D_WORDS;
    q_codes_wg[e] = qprep[qprep_base(group, row0 + r) + e % D_WORDS];
  }
  if (tid < rows) {
    let base = qprep_base(group, row0 + tid);
    q_scale_wg[tid] = bitcast<f32>(qprep[base + D_WORDS]);
    q_shift_wg[tid] = bitcast<f32>(qprep[base + D_WORDS + 1u]);
    last_key_wg[tid] = i32(length) - i32(params.query_tokens) + i32((row0 + tid) % params.query_tokens);
  }
}

fn logits_tile(tid: u32, rows: u32, key0: u32, n: u32, first_key: u32) {
  let keys = min(KT, n - key0);
  for (var e = tid; e < rows * keys; e += WG) {
    let r = e / keys;
    let t = e % keys;
    var x = MASKED;
    if (i32(first_key + key0 + t) <= last_key_wg[r]) {
      var dot = 0;
      for (var w = 0u; w < bound(D_WORDS); w++) {
        dot += dot4_i8(q_codes_wg[r * D_WORDS + w], k_tile[t * K_STRIDE + w]);
      }
      let descale = q_scale_wg[r] * k_scale_wg[key0 + t] * params.sm_scale_log2;
      x = fma(f32(dot), descale, q_shift_wg[r]); // |dot| ≤ 127²·HEAD_DIM < 2^24: exact in f32
    }
    scores[r * SCORE_STRIDE + key0 + t] = x;
  }
}

fn pv_codes(tid: u32, rows: u32, n: u32) {
  let r = tid / TPR;
  let lane = tid % TPR;
  var local_max = 0.0;
  if (r < rows) {
    for (var t = lane; t < n; t += TPR) {
      local_max = max(local_max, scores[r * SCORE_STRIDE + t] * v_scale_wg[t]);
    }
  }
  red_f[tid] = local_max;
  workgroupBarrier();
  if (lane == 0u && r < rows) {
    var p_max = 0.0;
    for (var j = 0u; j < bound(TPR); j++) {
      p_max = max(p_max, red_f[tid + j]);
    }
    p_descale[r] = p_max / 127.0;
    p_tocode[r] = select(0.0, 127.0 / p_max, p_max > 0.0);
  }
  workgroupBarrier();
  for (var e = tid; e < rows * T_WORDS; e += WG) {
    let rr = e / T_WORDS;
    let w = e % T_WORDS;
    let to_code = p_tocode[rr];
    var word = 0u;
    for (var j = 0u; j < bound(4u); j++) {
      let t = w * 4u + j;
      if (t < n) {
        let code = clamp(round(scores[rr * SCORE_STRIDE + t] * v_scale_wg[t] * to_code), 0.0, 127.0); // half to even
        word |= u32(code) << (8u * j);
      }
    }
    p_codes[e] = word;
  }
  workgroupBarrier();
}

fn accumulate_v_tile(tid: u32, rows: u32, d0: u32) {
  for (var i = 0u; i < bound(ACC_N); i++) {
    let e = tid + i * WG;
    let r = e / HEAD_DIM;
    let d = e % HEAD_DIM;
    if (r < rows && d >= d0 && d < d0 + DV) {
      let descale = p_descale[r];
      if (descale > 0.0) {
        var dot = 0;
        for (var w = 0u; w < bound(T_WORDS); w++) {
          dot += dot4_i8(p_codes[r * T_WORDS + w], v_tile[(d - d0) * V_STRIDE + w]);
        }
        acc[i] += f32(dot) * descale;
      }
    }
  }
}

// One chunk of n keys starting at key first_key of the sequence (uniform arguments).
fn attend_chunk(tid: u32, rows: u32, n: u32, first_key: u32) {
  for (var key0 = 0u; key0 < n; key0 += KT) {
    workgroupBarrier();
    load_k_tile(tid, key0, n);
    workgroupBarrier();
    logits_tile(tid, rows, key0, n, first_key);
  }
  workgroupBarrier();
  if (!softmax_chunk(tid, rows, n)) {
    return;
  }
  pv_codes(tid, rows, n);
  for (var d0 = 0u; d0 < HEAD_DIM; d0 += DV) {
    workgroupBarrier();
    load_v_tile(tid, d0);
    workgroupBarrier();
    accumulate_v_tile(tid, rows, d0);
  }
  workgroupBarrier();
}`;
