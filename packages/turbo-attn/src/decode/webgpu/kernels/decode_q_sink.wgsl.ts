import { wgslFloat } from '@qattn/webgpu-runtime';
import { type DecodeKernelConfig, SOFTMAX_WGSL, decodeHeader, decodeKernelKey } from './decode-common.wgsl.js';

/**
 * decode_q_sink: one workgroup per (row tile, kv head, sequence), grid (1, kvHeads · rowTiles, batch). Prepares the
 * tile's query rows once for every split — rotated like the cache (y = H·(s ∘ q)/√D by a Walsh–Hadamard transform
 * in workgroup memory), quantized to INT8 per row (s_q = max|y|/127, codes rounded half to even), and the shift
 * δ = (y − ŷ·s_q)·mean(K)·σ·log2 e — then attends to the float32 sink tokens with the unquantized y (the oracle's
 * first chunk) and writes split 0's state. Bindings:
 *   tables i32 [lengths | page tables | rotation signs | K means]   q f32 [batch, heads, queryTokens, headDim]
 *   k_sink, v_sink f32 [batch, kvHeads, sinkTokens, headDim]         (only when the cache keeps sink tokens)
 *   qprep  u32 [batch·kvHeads, rowsTotal, D_WORDS + 2]                state f32 [batch·kvHeads, maxSplits, rowsTotal, headDim + 2]
 */
export function decodeQSinkWgsl(config: DecodeKernelConfig): string {
  const sinks = config.sinkTokens > 0;
  return `${decodeHeader(config, config.sinkTokens)}
const ROT_NORM: f32 = ${wgslFloat(1 / Math.sqrt(config.headDim))};
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tables: array<i32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read_write> qprep: array<u32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;
${sinks ? `@group(0) @binding(5) var<storage, read> k_sink: array<f32>;
@group(0) @binding(6) var<storage, read> v_sink: array<f32>;` : ''}
${SOFTMAX_WGSL}
var<workgroup> q_rot: array<f32, ROWS * HEAD_DIM>; // (ROWS, HEAD_DIM) rotated q
var<workgroup> q_scale_row: array<f32, ROWS>;
var<workgroup> red_f: array<f32, WG>; // per-invocation partial max / sum of a row
${sinks ? 'var<workgroup> sink_p: array<f32, ROWS * SINK_TOKENS>; // (ROWS, SINK_TOKENS) P' : ''}

// The sink keys carry no V scale: P is not quantized.
fn p_weight(t: u32) -> f32 {
  return 0.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let b = wg.z;
  let g = wg.y / params.row_tiles;
  let row0 = tile_row0(wg.y % params.row_tiles);
  let rows = tile_rows(wg.y % params.row_tiles);
  if (rows == 0u) {
    return;
  }
  let group = b * params.kv_heads + g;
  let length = length_of(b);

  for (var e = tid; e < rows * HEAD_DIM; e += WG) {
    let row = row0 + e / HEAD_DIM;
    let d = e % HEAD_DIM;
    let h = g * params.group_size + row / params.query_tokens;
    var x = q[((b * params.heads + h) * params.query_tokens + row % params.query_tokens) * HEAD_DIM + d];
    if (ROTATE) {
      x *= bitcast<f32>(tables[params.signs + d]);
    }
    q_rot[e] = x;
  }
  if (ROTATE) {
    for (var half = 1u; half < bound(HEAD_DIM); half <<= 1u) {
      workgroupBarrier();
      for (var p = tid; p < rows * (HEAD_DIM / 2u); p += WG) {
        let pair = p % (HEAD_DIM / 2u);
        let i = (p / (HEAD_DIM / 2u)) * HEAD_DIM + (pair / half) * 2u * half + pair % half;
        let a = q_rot[i];
        let c = q_rot[i + half];
        q_rot[i] = a + c;
        q_rot[i + half] = a - c;
      }
    }
    workgroupBarrier();
    for (var e = tid; e < rows * HEAD_DIM; e += WG) {
      q_rot[e] *= ROT_NORM;
    }
  }
  workgroupBarrier();

  // s_q per row: max|y| / 127 (SAFE_SCALE for an all-zero row), as kv-cache's quantizeRowInt8.
  let r = tid / TPR;
  let lane = tid % TPR;
  var local_abs = 0.0;
  if (r < rows) {
    for (var d = lane; d < HEAD_DIM; d += TPR) {
      local_abs = max(local_abs, abs(q_rot[r * HEAD_DIM + d]));
    }
  }
  red_f[tid] = local_abs;
  workgroupBarrier();
  if (lane == 0u && r < rows) {
    var abs_max = 0.0;
    for (var j = 0u; j < bound(TPR); j++) {
      abs_max = max(abs_max, red_f[tid + j]);
    }
    q_scale_row[r] = select(max(abs_max / 127.0, MIN_SCALE), SAFE_SCALE, abs_max == 0.0);
  }
  workgroupBarrier();
  var local_shift = 0.0;
  if (r < rows) {
    let scale = q_scale_row[r];
    let base = qprep_base(group, row0 + r);
    let mean = params.k_mean + group * HEAD_DIM;
    for (var w = lane; w < D_WORDS; w += TPR) {
      var word = 0u;
      for (var j = 0u; j < bound(4u); j++) {
        let d = w * 4u + j;
        let y = q_rot[r * HEAD_DIM + d];
        let code = clamp(round(y / scale), -127.0, 127.0); // half to even
        word |= (bitcast<u32>(i32(code)) & 0xffu) << (8u * j);
        local_shift += (y - code * scale) * bitcast<f32>(tables[mean + d]);
      }
      qprep[base + w] = word;
    }
  }
  red_f[tid] = local_shift;
  workgroupBarrier();
  if (lane == 0u && r < rows) {
    var shift = 0.0;
    for (var j = 0u; j < bound(TPR); j++) {
      shift += red_f[tid + j];
    }
    let base = qprep_base(group, row0 + r);
    qprep[base + D_WORDS] = bitcast<u32>(q_scale_row[r]);
    qprep[base + D_WORDS + 1u] = bitcast<u32>(shift * params.sm_scale_log2);
  }

  clear_state(tid);
  workgroupBarrier();
${sinks ? `  // Sink: float32 K and V against the unquantized rotated q (never quantized: it carries much of every row's mass).
  let sink_n = min(length, SINK_TOKENS);
  if (sink_n > 0u) {
    let blocks = (rows + 3u) / 4u;
    for (var k = 0u; k < bound(KPL); k++) {
      let t = tid + k * WG;
      for (var blk = 0u; blk < blocks; blk++) {
        var x = vec4<f32>(MASKED);
        if (t < sink_n) {
          var dot = vec4<f32>(0.0);
          let k_row = (group * SINK_TOKENS + t) * HEAD_DIM;
          // Rows past ROWS read row ROWS − 1: their logits are masked below.
          let row = vec4<u32>(4u * blk) + vec4<u32>(0u, 1u, 2u, 3u);
          let q_row = min(row, vec4<u32>(ROWS - 1u)) * HEAD_DIM;
          for (var d = 0u; d < bound(HEAD_DIM); d++) {
            let y = vec4<f32>(q_rot[q_row.x + d], q_rot[q_row.y + d], q_rot[q_row.z + d], q_rot[q_row.w + d]);
            dot = fma(y, vec4<f32>(k_sink[k_row + d]), dot);
          }
          let last_key = vec4<i32>(i32(length) - i32(params.query_tokens)) + vec4<i32>((vec4<u32>(row0) + row) % vec4<u32>(params.query_tokens));
          x = select(x, dot * params.sm_scale_log2, (row < vec4<u32>(rows)) & (vec4<i32>(i32(t)) <= last_key));
        }
        x_keys[k * RB + blk] = x;
      }
    }
    if (softmax_keys(tid, rows)) {
      for (var k = 0u; k < bound(KPL); k++) {
        let t = tid + k * WG;
        for (var r = 0u; r < rows; r++) {
          if (t < sink_n) {
            sink_p[r * SINK_TOKENS + t] = x_keys[k * RB + r / 4u][r % 4u];
          }
        }
      }
      workgroupBarrier();
      for (var j = 0u; j < bound(CPL); j++) {
        let d = tid + j * WG;
        if (d < HEAD_DIM) {
          for (var blk = 0u; blk < blocks; blk++) {
            var o = acc[j * RB + blk];
            // Rows past the tile's read row 0: their O is never stored.
            let p_row = select(vec4<u32>(0u), vec4<u32>(4u * blk) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(4u * blk) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(rows)) * SINK_TOKENS;
            for (var t = 0u; t < sink_n; t++) {
              let p = vec4<f32>(sink_p[p_row.x + t], sink_p[p_row.y + t], sink_p[p_row.z + t], sink_p[p_row.w + t]);
              o = fma(p, vec4<f32>(v_sink[(group * SINK_TOKENS + t) * HEAD_DIM + d]), o);
            }
            acc[j * RB + blk] = o;
          }
        }
      }
    }
  }
  workgroupBarrier();` : ''}
  store_state(tid, group, 0u, row0, rows);
}
`;
}

/** Pipeline key of {@link decodeQSinkWgsl}. */
export function decodeQSinkKey(config: DecodeKernelConfig): string {
  return `qattn/decode_q_sink:${decodeKernelKey(config)}`;
}
