import type { KVCacheConfig } from '../../options.js';
import { APPEND_PARAMS_WGSL, appendConstants } from './append-constants.js';

/**
 * append_rows: one workgroup per appended row (sequence s, kv head g, token t) of one tensor. Bindings:
 *   input      f32 [sequences, kvHeads, tokens, headDim]   the caller's k or v
 *   signs      f32 [headDim]                              the rotation's signs (unread without rotation)
 *   sink       f32 [batch, kvHeads, sinkTokens, headDim]  rows at positions < sinkTokens, rotated, unquantized
 *   row_codes  u32 [sequences, kvHeads, tokens, headDim/4] every row as symmetric INT8 with its own scale (int8 ×4)
 *   row_scales f32 [sequences, kvHeads, tokens]
 *   rotated    f32 [sequences, kvHeads, tokens, headDim]   the rotated rows (K only: the input of k_mean)
 * The CPU's math (hadamard.ts, int8-rows.ts `quantizeRowInt8`) in f32 instead of float64.
 */
export function appendRowsWgsl(config: KVCacheConfig, writeRotated: boolean): string {
  const { headDim } = config;
  return `${appendConstants(config, { ROTATE: config.hadamard, WRITE_ROTATED: writeRotated, ROT_NORM: { f32: 1 / Math.sqrt(headDim) } })}
${APPEND_PARAMS_WGSL}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> seqs: array<u32>;
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read> signs: array<f32>;
@group(0) @binding(4) var<storage, read_write> sink: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_codes: array<u32>;
@group(0) @binding(6) var<storage, read_write> row_scales: array<f32>;
@group(0) @binding(7) var<storage, read_write> rotated: array<f32>;

var<workgroup> row: array<f32, HEAD_DIM>;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = wid.z;
  let g = wid.y;
  let b = seqs[s * SEQUENCE_WORDS];
  let length_before = seqs[s * SEQUENCE_WORDS + 1u];
  for (var t = wid.x; t < params.tokens; t += groups.x) {
    let src_row = (s * KV_HEADS + g) * params.tokens + t;
    for (var d = lid; d < HEAD_DIM; d += WG) {
      var x = input[src_row * HEAD_DIM + d];
      if (ROTATE) {
        x *= signs[d];
      }
      row[d] = x;
    }
    workgroupBarrier();
    if (ROTATE) {
      // Fast Walsh–Hadamard transform, one butterfly stage per barrier.
      for (var half = 1u; half < HEAD_DIM; half <<= 1u) {
        for (var i = lid; i < HEAD_DIM / 2u; i += WG) {
          let first = (i / half) * (half * 2u) + (i % half);
          let a = row[first];
          let c = row[first + half];
          row[first] = a + c;
          row[first + half] = a - c;
        }
        workgroupBarrier();
      }
      for (var d = lid; d < HEAD_DIM; d += WG) {
        row[d] *= ROT_NORM;
      }
      workgroupBarrier();
    }
    var abs_max = 0.0;
    for (var d = lid; d < HEAD_DIM; d += WG) {
      abs_max = max(abs_max, abs(row[d]));
      if (WRITE_ROTATED) {
        rotated[src_row * HEAD_DIM + d] = row[d];
      }
    }
    partial[lid] = abs_max;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
      if (lid < stride) {
        partial[lid] = max(partial[lid], partial[lid + stride]);
      }
      workgroupBarrier();
    }
    let row_max = partial[0];
    let position = length_before + t;
    if (position < SINK_TOKENS) {
      let sink_row = (b * KV_HEADS + g) * SINK_TOKENS + position;
      for (var d = lid; d < HEAD_DIM; d += WG) {
        sink[sink_row * HEAD_DIM + d] = row[d];
      }
    } else {
      let scale = select(max(row_max / 127.0, MIN_SCALE), 1.0, row_max == 0.0);
      for (var w = lid; w < HEAD_WORDS; w += WG) {
        var word = 0u;
        for (var e = 0u; e < 4u; e++) {
          let code = clamp(round(row[w * 4u + e] / scale), -127.0, 127.0);
          word |= (bitcast<u32>(i32(code)) & 0xffu) << (8u * e);
        }
        row_codes[src_row * HEAD_WORDS + w] = word;
      }
      if (lid == 0u) {
        row_scales[src_row] = scale;
      }
    }
    workgroupBarrier();
  }
}
`;
}
