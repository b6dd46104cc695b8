import { wgslConstants } from '@qattn/webgpu-runtime';
import type { WgslDecodeDType, WgslDecodeSchedule } from './schedule.js';

/** What the split pass's WGSL is generated from. */
export interface WgslDecodeKernelConfig {
  dtype: WgslDecodeDType;
  headDim: number;
  schedule: WgslDecodeSchedule;
}

/** Pipeline key of a kernel configuration (everything the generated WGSL depends on; shapes travel in uniforms). */
export function wgslDecodeKernelKey(config: WgslDecodeKernelConfig): string {
  const { dtype, headDim, schedule: s } = config;
  return `d${headDim}-${dtype}-r${s.rowsPerTile}-t${s.keysPerTile}-wg${s.workgroupSize}${s.rolledLoops ? '-rolled' : ''}`;
}

/** The uniform `Params` every pass of the baseline reads, in declaration order. */
export const WGSL_DECODE_PARAMS = `struct Params {
  batch: u32,
  kv_heads: u32,
  rows_total: u32,   // (heads / kv_heads) · seq_q: the query rows of one kv head, contiguous in q and out
  seq_q: u32,
  seq_kv: u32,
  keys_per_split: u32,
  splits: u32,
  zero: u32,         // 0: added to constant loop bounds where they must stay rolled
  sm_scale_log2: f32,
}`;

/** `fn bound(n)`: a constant loop bound, or the same plus a uniform zero so the compiler keeps the loop rolled. */
export function boundFunction(rolledLoops: boolean): string {
  return rolledLoops ? 'fn bound(n: u32) -> u32 { return n + params.zero; }' : 'fn bound(n: u32) -> u32 { return n; }';
}

/**
 * decode_split: one workgroup per (split, kv head × row tile, sequence), grid (splits, kvHeads · rowTiles, batch).
 * The workgroup serves ROWS query rows of its kv head (GQA: the group's heads × query tokens, read from q once) over
 * the keys [split · keys_per_split, +keys_per_split): per TILE keys, K is staged in workgroup memory by coalesced vec4
 * loads (rows padded by one word against bank conflicts), each invocation computes the logits of one key for every
 * ROW_PARTS-th row, one invocation per row updates the running max (online softmax, base 2: q is pre-scaled by
 * sm_scale · log2 e), the probabilities are formed in parallel, and P·V reads V straight from global memory — KEY_LANES
 * lanes of HEAD_DIM/4 invocations, each lane one coalesced row per key. Accumulation in f32 whatever the K/V type.
 * At the end the key lanes are summed through workgroup memory; with one split the normalised rows go to `out`
 * directly, else the unnormalised accumulator and (max, sum) of each row go to the partial state for decode_combine.
 *   q f32 [batch, heads, seq_q, HEAD_DIM]   k, v KV [batch, kv_heads, seq_kv, HEAD_DIM]
 *   part_acc f32 [batch, kv_heads, splits, rows_total, HEAD_DIM] (= out [batch, heads, seq_q, HEAD_DIM] when splits = 1)
 *   part_ml vec2<f32> [batch, kv_heads, splits, rows_total]: (running max in log2 units, sum of 2^(s − max))
 */
export function wgslDecodeSplitSource(config: WgslDecodeKernelConfig): string {
  const { dtype, headDim, schedule: s } = config;
  const f16 = dtype === 'float16';
  return `${f16 ? 'enable f16;\nalias kv_t = f16;' : 'alias kv_t = f32;'}
${wgslConstants({
  VEC: headDim / 4,
  K_STRIDE: headDim / 4 + 1,
  ROWS: s.rowsPerTile,
  TILE: s.keysPerTile,
  P_STRIDE: s.keysPerTile + 1,
  WG: s.workgroupSize,
  KEY_LANES: s.keyLanes,
  KEYS_PER_LANE: Math.ceil(s.keysPerTile / s.keyLanes),
  K_LOADS: Math.ceil((s.keysPerTile * headDim) / 4 / s.workgroupSize),
  ROW_PARTS: s.rowParts,
})}
const MASKED: f32 = -3.0e38;
${WGSL_DECODE_PARAMS}
${boundFunction(s.rolledLoops)}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<kv_t>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<kv_t>>;
@group(0) @binding(4) var<storage, read_write> part_acc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> part_ml: array<vec2<f32>>;

var<workgroup> q_wg: array<vec4<f32>, ROWS * VEC>;     // (ROWS, VEC), pre-scaled
var<workgroup> k_wg: array<vec4<kv_t>, TILE * K_STRIDE>; // (TILE, VEC + 1 pad)
var<workgroup> p_wg: array<f32, ROWS * P_STRIDE>;        // (ROWS, TILE + 1 pad): logits, then probabilities
var<workgroup> m_wg: array<f32, ROWS>;                   // running max
var<workgroup> alpha_wg: array<f32, ROWS>;               // 2^(old max − new max) of the current tile
var<workgroup> red_wg: array<vec4<f32>, KEY_LANES * VEC>;
var<workgroup> red_l: array<f32, KEY_LANES>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let split = wg.x;
  let g = wg.y % params.kv_heads;
  let row0 = (wg.y / params.kv_heads) * ROWS;
  let b = wg.z;
  let rows = min(ROWS, params.rows_total - row0);
  let group = b * params.kv_heads + g;
  let key_begin = split * params.keys_per_split;
  let key_end = min(key_begin + params.keys_per_split, params.seq_kv);
  let kv_base = group * params.seq_kv;            // token index of (b, g, key 0)
  let row_base = group * params.rows_total + row0; // q/out row of this tile's row 0

  for (var i = tid; i < ROWS * VEC; i += WG) {
    let r = i / VEC;
    var word = vec4<f32>(0.0);
    if (r < rows) {
      word = q[(row_base + r) * VEC + i % VEC] * params.sm_scale_log2;
    }
    q_wg[i] = word;
  }
  if (tid < ROWS) {
    m_wg[tid] = MASKED;
  }
  let key_lane = tid / VEC;   // P·V: this invocation sums keys key_lane, key_lane + KEY_LANES, …
  let word_c = tid % VEC;     //       of channel word word_c
  let tile_key = tid % TILE;  // Q·Kᵀ: this invocation's key of the tile
  let row_part = tid / TILE;  //       and its first row
  var acc: array<vec4<f32>, ROWS>;
  var l: array<f32, ROWS>;

  for (var t0 = key_begin; t0 < key_end; t0 += TILE) {
    let n = min(TILE, key_end - t0);
    // A constant trip count: a GPU compiler unrolls it and issues every load of the tile before the first store.
    for (var j = 0u; j < bound(K_LOADS); j++) {
      let i = tid + j * WG;
      let key = i / VEC;
      if (key < TILE) {
        var word = vec4<kv_t>(0.0);
        if (key < n) {
          word = k[(kv_base + t0 + key) * VEC + i % VEC];
        }
        k_wg[key * K_STRIDE + i % VEC] = word;
      }
    }
    workgroupBarrier();

    for (var r = row_part; r < bound(ROWS); r += ROW_PARTS) {
      var s = vec4<f32>(0.0);
      for (var c = 0u; c < bound(VEC); c++) {
        s += q_wg[r * VEC + c] * vec4<f32>(k_wg[tile_key * K_STRIDE + c]);
      }
      // Bottom-right causal among the seq_q new tokens: token t of a row sees keys ≤ seq_kv − seq_q + t.
      let key = t0 + tile_key;
      let visible = tile_key < n && r < rows && key + params.seq_q <= params.seq_kv + (row0 + r) % params.seq_q;
      p_wg[r * P_STRIDE + tile_key] = select(MASKED, s.x + s.y + s.z + s.w, visible);
    }
    workgroupBarrier();

    if (tid < ROWS) {
      var m_new = m_wg[tid];
      for (var j = 0u; j < bound(TILE); j++) {
        m_new = max(m_new, p_wg[tid * P_STRIDE + j]);
      }
      alpha_wg[tid] = exp2(m_wg[tid] - m_new); // 1 while a row has seen no key (both MASKED)
      m_wg[tid] = m_new;
    }
    workgroupBarrier();

    for (var i = tid; i < ROWS * TILE; i += WG) {
      let at = (i / TILE) * P_STRIDE + i % TILE;
      let logit = p_wg[at];
      p_wg[at] = select(0.0, exp2(logit - m_wg[i / TILE]), logit > MASKED);
    }
    workgroupBarrier();

    // P·V; the next tile's K staging does not touch p_wg or alpha_wg, and its first barrier orders this before the
    // next logits are written.
    if (key_lane < KEY_LANES) {
      for (var r = 0u; r < bound(ROWS); r++) {
        acc[r] *= alpha_wg[r];
        l[r] *= alpha_wg[r];
      }
      // A constant trip count (the tile's keys of this lane), so that a GPU compiler can unroll it and keep every
      // V load of the tile in flight at once; keys past the end of the split are skipped.
      for (var j = 0u; j < bound(KEYS_PER_LANE); j++) {
        let key = key_lane + j * KEY_LANES;
        if (key < n) {
          let value = vec4<f32>(v[(kv_base + t0 + key) * VEC + word_c]);
          for (var r = 0u; r < bound(ROWS); r++) {
            let p = p_wg[r * P_STRIDE + key];
            acc[r] += p * value;
            l[r] += p;
          }
        }
      }
    }
  }

  // Constant bounds again: acc and l are indexed by r only in loops the compiler can unroll, so they stay in registers.
  for (var r = 0u; r < bound(ROWS); r++) {
    if (key_lane < KEY_LANES) {
      red_wg[key_lane * VEC + word_c] = acc[r];
      if (word_c == 0u) {
        red_l[key_lane] = l[r]; // every invocation of a lane summed the same keys
      }
    }
    workgroupBarrier();
    if (tid < VEC && r < rows) {
      var total = vec4<f32>(0.0);
      var sum = 0.0;
      for (var j = 0u; j < bound(KEY_LANES); j++) {
        total += red_wg[j * VEC + tid];
        sum += red_l[j];
      }
      if (params.splits == 1u) {
        part_acc[(row_base + r) * VEC + tid] = select(vec4<f32>(0.0), total / sum, sum > 0.0);
      } else {
        let state = (group * params.splits + split) * params.rows_total + row0 + r;
        part_acc[state * VEC + tid] = total;
        if (tid == 0u) {
          part_ml[state] = vec2<f32>(m_wg[r], sum);
        }
      }
    }
    workgroupBarrier();
  }
}
`;
}
