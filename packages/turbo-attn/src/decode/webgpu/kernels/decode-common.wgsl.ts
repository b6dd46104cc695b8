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
    `r${tiles.rowCapacity}-wg${tiles.workgroupSize}-tpr${tiles.threadsPerRow}`,
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
 * Lanes one invocation folds in the first level of a workgroup reduction (the second folds the WG / RED_FAN partials):
 * two barriers whatever the workgroup size, and short serial loops — the cheap shape on a software adapter, where a
 * barrier switches every SIMD group (measured on lavapipe: ~1.2k cycles a barrier for 64 invocations), and on a GPU.
 */
const REDUCTION_FAN_IN = 8;

/** Row blocks of a tiling: rows go through the products four at a time, as the lanes of a vec4 (row 4b + i: lane i). */
function rowBlocks(rowCapacity: number): number {
  return Math.ceil(rowCapacity / 4);
}

/**
 * Constants, the uniform, the exponent, dot4 and the index helpers every decode kernel starts with. Masked logits are
 * MASKED (not −∞: WGSL implementations need not keep infinities), and a row that has seen no key has the running
 * max MASKED; anything at or below MASK_LIMIT counts as "no key". `bound(n)` is a loop bound: n, plus the uniform 0
 * `loop_pad` where loops stay rolled. `chunkKeys`: the most keys of one chunk the kernel attends to (KPL per lane).
 */
export function decodeHeader(config: DecodeKernelConfig, chunkKeys: number): string {
  const { headDim, pageSize, sinkTokens, tiles, sasPrecision, rotate, packedDot4, rolledLoops } = config;
  const blocks = rowBlocks(tiles.rowCapacity);
  return [
    sasPrecision === 'f16' ? 'enable f16;' : '',
    wgslConstants({
      HEAD_DIM: headDim,
      D_WORDS: headDim / 4,
      PAGE_SIZE: pageSize,
      T_WORDS: pageSize / 4,
      SINK_TOKENS: sinkTokens,
      ROWS: tiles.rowCapacity,
      RB: blocks,
      ROWS4: 4 * blocks,
      WG: tiles.workgroupSize,
      TPR: tiles.threadsPerRow,
      CPL: Math.ceil(headDim / tiles.workgroupSize),
      KPL: Math.ceil(Math.max(1, chunkKeys) / tiles.workgroupSize),
      RED_FAN: REDUCTION_FAN_IN,
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
}
// Byte i of a word, sign-extended (i8 ×4 words) or not (u8 ×4).
fn byte_i8(word: u32, i: u32) -> i32 {
  return bitcast<i32>(word << (24u - 8u * i)) >> 24u;
}
fn byte_u8(word: u32, i: u32) -> i32 {
  return i32((word >> (8u * i)) & 0xffu);
}
// dot4 of one word against the words of four rows (a vec4 of operands): the four rows' partial products.
fn dot4_rows(word: u32, rows: vec4<u32>) -> vec4<i32> {
  return vec4<i32>(dot4_i8(word, rows.x), dot4_i8(word, rows.y), dot4_i8(word, rows.z), dot4_i8(word, rows.w));
}`,
  ].join('\n');
}

/**
 * The split state and the online softmax every pass shares (the CPU oracle's `softmaxChunk`). A chunk's keys are
 * dealt to the invocations — key t = tid + k·WG (k < KPL) — each of which keeps its keys' logits, then P, in
 * registers (x_keys, four rows to a vec4), so every invocation works on every phase; rows reduce over the
 * invocations in two levels (fold_lanes). Rows walked by a few invocations each through logits in workgroup memory
 * (the previous layout) kept 16 of 64 invocations busy at 4 rows: the softmax and P̂ took 25 of the INT4 page pass's
 * 93 CPU-ms on lavapipe (B4 H32/8 hd 128, 2K keys), 17 this way. Each invocation also keeps the channels
 * d = tid + j·WG (j < CPL) of O for every row: acc[j·RB + b] = O[rows 4b..4b+3, d] — the layout P·V produces them
 * in. Rows past the tile's hold MASKED logits and zero P.
 */
export const SOFTMAX_WGSL = `
var<workgroup> row_max: array<f32, ROWS4>; // m, base 2 (MASKED: no key yet)
var<workgroup> row_sum: array<f32, ROWS4>; // l
var<workgroup> row_alpha: array<f32, ROWS4>; // exp2(m_old − m_new) of the current chunk
var<workgroup> p_descale: array<f32, ROWS4>; // max(p·p_weight) / 127
var<workgroup> p_tocode: array<f32, ROWS4>; // 127 / max(p·p_weight)
var<workgroup> red_a: array<vec4<f32>, RB * WG>; // (RB, WG) per-invocation partials
var<workgroup> red_b: array<vec4<f32>, RB * WG>;
var<workgroup> chunk_max: array<vec4<f32>, RB>;
var<workgroup> chunk_kept: atomic<u32>; // some row keeps a visible score ≥ m − T (the sparse skip)
var<workgroup> chunk_live: u32;
var<private> acc: array<vec4<f32>, CPL * RB>; // (CPL, RB) O of channel tid + j·WG, rows 4b..4b+3
var<private> x_keys: array<vec4<f32>, KPL * RB>; // (KPL, RB) logits, then P, of key tid + k·WG, rows 4b..4b+3

fn rows4(values: ptr<workgroup, array<f32, ROWS4>>, b: u32) -> vec4<f32> {
  return vec4<f32>((*values)[4u * b], (*values)[4u * b + 1u], (*values)[4u * b + 2u], (*values)[4u * b + 3u]);
}

fn clear_state(tid: u32) {
  for (var i = 0u; i < bound(CPL * RB); i++) {
    acc[i] = vec4<f32>(0.0);
  }
  if (tid < ROWS4) {
    row_max[tid] = MASKED;
    row_sum[tid] = 0.0;
  }
}

fn load_state(tid: u32, group: u32, split: u32, row0: u32, rows: u32) {
  for (var j = 0u; j < bound(CPL); j++) {
    let d = tid + j * WG;
    for (var b = 0u; b < bound(RB); b++) {
      var o = vec4<f32>(0.0);
      for (var i = 0u; i < 4u; i++) {
        if (d < HEAD_DIM && 4u * b + i < rows) {
          o[i] = state[state_base(group, split, row0 + 4u * b + i) + d];
        }
      }
      acc[j * RB + b] = o;
    }
  }
  if (tid < ROWS4) {
    row_max[tid] = MASKED;
    row_sum[tid] = 0.0;
    if (tid < rows) {
      let base = state_base(group, split, row0 + tid);
      row_max[tid] = state[base + HEAD_DIM];
      row_sum[tid] = state[base + HEAD_DIM + 1u];
    }
  }
}

fn store_state(tid: u32, group: u32, split: u32, row0: u32, rows: u32) {
  for (var j = 0u; j < bound(CPL); j++) {
    let d = tid + j * WG;
    for (var b = 0u; b < bound(RB); b++) {
      let o = acc[j * RB + b];
      for (var i = 0u; i < 4u; i++) {
        if (d < HEAD_DIM && 4u * b + i < rows) {
          state[state_base(group, split, row0 + 4u * b + i) + d] = o[i];
        }
      }
    }
  }
  if (tid < rows) {
    let base = state_base(group, split, row0 + tid);
    state[base + HEAD_DIM] = row_max[tid];
    state[base + HEAD_DIM + 1u] = row_sum[tid];
  }
}

// First level of a reduction over the invocations (red_a, and red_b when with_b): invocation l < WG / RED_FAN folds
// entries RED_FAN·l + 1.. into RED_FAN·l, by sum (sum_a) or max for red_a, max for red_b; the second level is the
// caller's loop over every RED_FAN-th entry.
fn fold_lanes(tid: u32, blocks: u32, sum_a: bool, with_b: bool) {
  workgroupBarrier();
  if (tid < WG / RED_FAN) {
    for (var b = 0u; b < blocks; b++) {
      let base = b * WG + tid * RED_FAN;
      var a = red_a[base];
      var m = red_b[base];
      for (var j = 1u; j < bound(RED_FAN); j++) {
        a = select(max(a, red_a[base + j]), a + red_a[base + j], sum_a);
        if (with_b) {
          m = max(m, red_b[base + j]);
        }
      }
      red_a[base] = a;
      red_b[base] = m;
    }
  }
  workgroupBarrier();
}

// Online-softmax update of the chunk in x_keys: m' = max(m, max x), p = exponent2(x − m'), l ← α·l + Σ p, O ← α·O;
// x_keys gets P, and p_descale / p_tocode the scale of P̂ = round(p·p_weight(t)·127 / max(p·p_weight)). Returns
// false, changing nothing, when the sparse skip (uniform skip_sparse) drops the chunk (no row keeps a visible score
// ≥ m − T). Workgroup-uniform: every invocation calls it with the same rows.
fn softmax_keys(tid: u32, rows: u32) -> bool {
  let blocks = (rows + 3u) / 4u;
  var kept = false;
  for (var b = 0u; b < blocks; b++) {
    let floor = rows4(&row_max, b) - vec4<f32>(params.sas_threshold);
    var local_max = vec4<f32>(MASKED);
    for (var k = 0u; k < bound(KPL); k++) {
      let x = x_keys[k * RB + b];
      local_max = max(local_max, x);
      kept = kept || any((x > vec4<f32>(MASK_LIMIT)) & (x >= floor));
    }
    red_a[b * WG + tid] = local_max;
  }
  if (kept) {
    atomicStore(&chunk_kept, 1u);
  }
  fold_lanes(tid, blocks, false, false);
  if (tid == 0u) {
    for (var b = 0u; b < blocks; b++) {
      var m = red_a[b * WG];
      for (var j = RED_FAN; j < WG; j += RED_FAN) {
        m = max(m, red_a[b * WG + j]);
      }
      chunk_max[b] = m;
    }
    chunk_live = atomicLoad(&chunk_kept);
    atomicStore(&chunk_kept, 0u);
  }
  let live = workgroupUniformLoad(&chunk_live);
  if (params.skip_sparse != 0u && live == 0u) {
    return false;
  }
  for (var b = 0u; b < blocks; b++) {
    let m_new = max(chunk_max[b], rows4(&row_max, b));
    var sum = vec4<f32>(0.0);
    var weighted = vec4<f32>(0.0);
    for (var k = 0u; k < bound(KPL); k++) {
      let x = x_keys[k * RB + b];
      var p = vec4<f32>(0.0);
      for (var i = 0u; i < bound(4u); i++) {
        if (m_new[i] > MASK_LIMIT && x[i] > MASK_LIMIT) {
          p[i] = exponent2(x[i] - m_new[i]);
        }
      }
      x_keys[k * RB + b] = p;
      sum += p;
      weighted = max(weighted, p * p_weight(tid + k * WG));
    }
    red_a[b * WG + tid] = sum;
    red_b[b * WG + tid] = weighted;
  }
  fold_lanes(tid, blocks, true, true);
  if (tid == 0u) {
    for (var b = 0u; b < blocks; b++) {
      var sum = red_a[b * WG];
      var weighted = red_b[b * WG];
      for (var j = RED_FAN; j < WG; j += RED_FAN) {
        sum += red_a[b * WG + j];
        weighted = max(weighted, red_b[b * WG + j]);
      }
      for (var i = 0u; i < bound(4u); i++) {
        let r = 4u * b + i;
        let m_old = row_max[r];
        let m_new = max(chunk_max[b][i], m_old);
        var alpha = 1.0;
        if (m_new > MASK_LIMIT && m_old != m_new) {
          // A row's first keys: its O and l are 0, α only has to be finite.
          alpha = select(exponent2(m_old - m_new), 0.0, m_old <= MASK_LIMIT);
        }
        row_alpha[r] = alpha;
        row_max[r] = m_new;
        if (m_new > MASK_LIMIT) {
          row_sum[r] = alpha * row_sum[r] + sum[i];
        }
        p_descale[r] = weighted[i] / 127.0;
        p_tocode[r] = select(0.0, 127.0 / weighted[i], weighted[i] > 0.0);
      }
    }
  }
  workgroupBarrier();
  for (var b = 0u; b < blocks; b++) {
    let alpha = rows4(&row_alpha, b);
    for (var j = 0u; j < bound(CPL); j++) {
      acc[j * RB + b] *= alpha;
    }
  }
  return true;
}`;

/**
 * Attention over one chunk of INT8-product keys (a page, or the INT8 buffer), shared by decode_pages and decode_buffer,
 * which define where the codes come from through five functions:
 *
 *   fold_k(tid, rows)     the chunk's K operands: INT4/INT2 pages fold q̂·step into k_ops and Σ q̂·zero into
 *                         k_zero (atomicAdd); INT8 rows use q_ops as they are
 *   k_dot_keys(tid, b, n) q̂·k̂ of the invocation's keys tid + k·WG (k < KPL; those < n) for rows 4b..4b+3 less
 *                         Σ q̂·zero (exact INT32)
 *   pack_v(tid, rows, n)  the V operands from P̂ (p_pack): P̂, or P̂·step with Σ P̂·zero into v_zero (atomicAdd)
 *   v_dot(d, b, n)        P̂·v̂ of channel d for rows 4b..4b+3 less Σ P̂·zero (exact INT32)
 *   k_scale_of(t), v_scale_of(t)   s_k and s_v of key t (read where they are: the chunk's scale or the key's)
 *
 * The products are the oracle's integers, exactly:
 *
 *   x = (q̂·k̂)·s_q·s_k·σ·log2 e + δ        (masked past each row's last key)
 *   P̂ = round(127·p·s_v / max(p·s_v)),  O += (P̂·v̂)·max(p·s_v)/127   (the oracle's pvInt8)
 *
 * but INT4/INT2 pages are never decompressed: quant-core's progressive grid keeps k̂ = code·step + zero inside INT8
 * with an integer step and zero per stored column (K: per channel, V: per token), which lie along the reduction axis,
 * so they fold into the other operand once per page — q̂·k̂ = Σ_c (q̂_c·step_c)·code_c + Σ_c q̂_c·zero_c, and
 * P̂·v̂ = Σ_t (P̂_t·step_t)·code_t + Σ_t P̂_t·zero_t — and the raw codes go into dot4 after one mask (and shift) per
 * word. q̂·step (≤ 127·85) and P̂·step do not fit a byte: each is split into its low 7 bits and the rest (a signed
 * byte), two dot4s recombined as lo + 128·hi. Every sum stays far below 2^31. Operands of four rows share a vec4, so
 * one workgroup load serves four rows: on a software adapter a workgroup load is a per-invocation scalar access, and
 * packed operands do 8 codes × 4 rows in ~250 cycles per SIMD group where f32 operands take ~380 (lavapipe). Whole
 * decode step, lavapipe, B4 H32/8 hd 128, 2K keys, CPU time: INT4 cache 196 → 113 ms, INT8 150 → 86 ms against
 * decompressing each page to INT8 in workgroup memory first (4 codes per 4-iteration loop, then a barrier).
 */
export const CHUNK_WGSL = `
var<workgroup> q_ops: array<vec4<u32>, RB * D_WORDS>; // (RB, D_WORDS) q̂ int8 ×4, rows 4b..4b+3: the INT8 operand
var<workgroup> q_scale_wg: array<f32, ROWS4>; // s_q
var<workgroup> q_shift_wg: array<f32, ROWS4>; // δ (base 2)
var<workgroup> last_key_wg: array<i32, ROWS4>; // last visible key of each row (−1 past the tile's rows)
var<workgroup> k_zero: array<atomic<i32>, ROWS4>; // Σ_c q̂·zero of the chunk's K (0 for INT8)
var<workgroup> v_zero: array<atomic<i32>, ROWS4>; // Σ_t P̂·zero of the chunk's V (0 for INT8)
var<workgroup> p_pack: array<u32, RB * PAGE_SIZE>; // (RB, PAGE_SIZE) P̂ of rows 4b..4b+3 (u8 ×4) of each key

fn load_q(tid: u32, group: u32, row0: u32, rows: u32, length: u32) {
  for (var e = tid; e < RB * D_WORDS; e += WG) {
    let b = e / D_WORDS;
    var words = vec4<u32>(0u);
    for (var i = 0u; i < 4u; i++) {
      if (4u * b + i < rows) {
        words[i] = qprep[qprep_base(group, row0 + 4u * b + i) + e % D_WORDS];
      }
    }
    q_ops[e] = words;
  }
  if (tid < ROWS4) {
    var last_key = -1;
    if (tid < rows) {
      let base = qprep_base(group, row0 + tid);
      q_scale_wg[tid] = bitcast<f32>(qprep[base + D_WORDS]);
      q_shift_wg[tid] = bitcast<f32>(qprep[base + D_WORDS + 1u]);
      last_key = i32(length) - i32(params.query_tokens) + i32((row0 + tid) % params.query_tokens);
    }
    last_key_wg[tid] = last_key;
  }
}

fn p_weight(t: u32) -> f32 {
  return v_scale_of(t);
}

// P̂ of rows 4b..4b+3 at key t.
fn p_codes(b: u32, t: u32) -> vec4<u32> {
  return (vec4<u32>(p_pack[b * PAGE_SIZE + t]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
}

// Byte k of the lo and hi operand words of v = lo + 128·hi (lo in [0, 127], hi a signed byte), per row.
fn lo_bytes(v: vec4<i32>, k: u32) -> vec4<u32> {
  return vec4<u32>(v & vec4<i32>(127)) << vec4<u32>(8u * k);
}
fn hi_bytes(v: vec4<i32>, k: u32) -> vec4<u32> {
  return (bitcast<vec4<u32>>(v >> vec4<u32>(7u)) & vec4<u32>(0xffu)) << vec4<u32>(8u * k);
}

fn logits_chunk(tid: u32, rows: u32, n: u32, first_key: u32) {
  let blocks = (rows + 3u) / 4u;
  for (var b = 0u; b < blocks; b++) {
    // Every key of this invocation at once: one load of each operand word serves all of them.
    var dots = k_dot_keys(tid, b, n);
    let zero = vec4<i32>(atomicLoad(&k_zero[4u * b]), atomicLoad(&k_zero[4u * b + 1u]), atomicLoad(&k_zero[4u * b + 2u]), atomicLoad(&k_zero[4u * b + 3u]));
    let last_key = vec4<i32>(last_key_wg[4u * b], last_key_wg[4u * b + 1u], last_key_wg[4u * b + 2u], last_key_wg[4u * b + 3u]);
    for (var k = 0u; k < bound(KPL); k++) {
      let t = tid + k * WG;
      var x = vec4<f32>(MASKED);
      if (t < n) {
        let descale = rows4(&q_scale_wg, b) * k_scale_of(t) * params.sm_scale_log2;
        // |q̂·k̂| ≤ 127·128·HEAD_DIM: exact in f32 below HEAD_DIM 1032.
        let logit = fma(vec4<f32>(dots[k] + zero), descale, rows4(&q_shift_wg, b));
        x = select(x, logit, vec4<i32>(i32(first_key + t)) <= last_key);
      }
      x_keys[k * RB + b] = x;
    }
  }
}

// P̂ = round(p·s_v·127 / max(p·s_v)) of this invocation's keys, four rows to a word of p_pack.
fn quantize_p(tid: u32, rows: u32, n: u32) {
  let blocks = (rows + 3u) / 4u;
  for (var k = 0u; k < bound(KPL); k++) {
    let t = tid + k * WG;
    if (t < PAGE_SIZE) {
      for (var b = 0u; b < blocks; b++) {
        let codes = vec4<u32>(clamp(round(x_keys[k * RB + b] * p_weight(t) * rows4(&p_tocode, b)), vec4<f32>(0.0), vec4<f32>(127.0))); // half to even
        p_pack[b * PAGE_SIZE + t] = codes.x | (codes.y << 8u) | (codes.z << 16u) | (codes.w << 24u);
      }
    }
  }
}

fn accumulate_chunk(tid: u32, rows: u32, n: u32) {
  let blocks = (rows + 3u) / 4u;
  for (var j = 0u; j < bound(CPL); j++) {
    let d = tid + j * WG;
    if (d < HEAD_DIM) {
      for (var b = 0u; b < blocks; b++) {
        let zero = vec4<i32>(atomicLoad(&v_zero[4u * b]), atomicLoad(&v_zero[4u * b + 1u]), atomicLoad(&v_zero[4u * b + 2u]), atomicLoad(&v_zero[4u * b + 3u]));
        acc[j * RB + b] += vec4<f32>(v_dot(d, b, n) + zero) * rows4(&p_descale, b);
      }
    }
  }
}

// One chunk of n keys starting at key first_key of the sequence (uniform arguments). Expects k_zero and v_zero at 0
// (workgroup memory starts zeroed; each chunk clears what it used, behind a barrier from its readers).
fn attend_chunk(tid: u32, rows: u32, n: u32, first_key: u32) {
  fold_k(tid, rows);
  workgroupBarrier();
  logits_chunk(tid, rows, n, first_key);
  let live = softmax_keys(tid, rows);
  if (tid < ROWS4) {
    atomicStore(&k_zero[tid], 0); // its readers, logits_chunk, are behind softmax_keys's barriers
  }
  if (live) {
    quantize_p(tid, rows, n);
    workgroupBarrier();
    pack_v(tid, rows, n);
    workgroupBarrier();
    accumulate_chunk(tid, rows, n);
  }
  workgroupBarrier();
  if (tid < ROWS4) {
    atomicStore(&v_zero[tid], 0);
  }
}`;
