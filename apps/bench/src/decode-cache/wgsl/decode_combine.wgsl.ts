import { wgslConstants } from '@qattn/webgpu-runtime';
import { WGSL_DECODE_PARAMS } from './decode_split.wgsl.js';


/**
 * decode_combine: one workgroup of HEAD_DIM/4 invocations per (query row, kv head, sequence), grid (rows_total,
 * kv_heads, batch), each invocation one vec4 of the row. Merges the row's split states (flash-decoding's combine):
 * M = max over splits with keys of mₛ, out = Σₛ 2^(mₛ − M) accₛ / Σₛ 2^(mₛ − M) lₛ. A split whose keys the row could
 * not see (lₛ = 0: causal among the new tokens) has no weight.
 *   part_acc f32 [batch, kv_heads, splits, rows_total, HEAD_DIM]   part_ml vec2<f32> [batch, kv_heads, splits, rows_total]
 *   out f32 [batch, heads, seq_q, HEAD_DIM] (= [batch, kv_heads, rows_total, HEAD_DIM])
 */
export function wgslDecodeCombineSource(headDim: number): string {
  return `${wgslConstants({ VEC: headDim / 4 })}
${WGSL_DECODE_PARAMS}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part_acc: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> part_ml: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(VEC)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let r = wg.x;
  let group = wg.z * params.kv_heads + wg.y;
  let first = group * params.splits;
  var m = -3.0e38;
  for (var s = 0u; s < params.splits; s++) {
    let ml = part_ml[(first + s) * params.rows_total + r];
    if (ml.y > 0.0) {
      m = max(m, ml.x);
    }
  }
  var total = vec4<f32>(0.0);
  var sum = 0.0;
  for (var s = 0u; s < params.splits; s++) {
    let state = (first + s) * params.rows_total + r;
    let ml = part_ml[state];
    if (ml.y > 0.0) {
      let w = exp2(ml.x - m);
      total += w * part_acc[state * VEC + tid];
      sum += w * ml.y;
    }
  }
  out[(group * params.rows_total + r) * VEC + tid] = select(vec4<f32>(0.0), total / sum, sum > 0.0);
}
`;
}
