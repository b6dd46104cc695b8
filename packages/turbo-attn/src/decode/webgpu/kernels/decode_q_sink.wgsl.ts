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
    for (var e = tid; e < rows * sink_n; e += WG) {
      let rr = e / sink_n;
      let t = e % sink_n;
      let last_key = i32(length) - i32(params.query_tokens) + i32((row0 + rr) % params.query_tokens);
      var x = MASKED;
      if (i32(t) <= last_key) {
        var dot = 0.0;
        let k_row = (group * SINK_TOKENS + t) * HEAD_DIM;
        for (var d = 0u; d < bound(HEAD_DIM); d++) {
          dot = fma(q_rot[rr * HEAD_DIM + d], k_sink[k_row + d], dot);
        }
        x = dot * params.sm_scale_log2;
      }
      scores[rr * SCORE_STRIDE + t] = x;
    }
    workgroupBarrier();
    if (softmax_chunk(tid, rows, sink_n)) {
      for (var i = 0u; i < bound(ACC_N); i++) {
        let e = tid + i * WG;
        let rr = e / HEAD_DIM;
        if (rr < rows) {
          var o = acc[i];
          for (var t = 0u; t < sink_n; t++) {
            let p = scores[rr * SCORE_STRIDE + t];
            if (p != 0.0) {
              o = fma(p, v_sink[(group * SINK_TOKENS + t) * HEAD_DIM + e % HEAD_DIM], o);
            }
          }
          acc[i] = o;
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
