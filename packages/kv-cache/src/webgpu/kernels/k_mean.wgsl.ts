import type { KVCacheConfig } from '../../options.js';
import { APPEND_PARAMS_WGSL, appendConstants } from './append-constants.js';

/**
 * k_mean: one invocation per (appended sequence s, kv head g, channel d), the running mean of every rotated K row
 * appended, token by token in order as the CPU cache updates it (mean += (x − mean) / (position + 1)). Bindings:
 *   rotated f32 [sequences, kvHeads, tokens, headDim]   (append_rows' output)
 *   k_mean  f32 [batch, kvHeads, headDim]
 */
export function kMeanWgsl(config: KVCacheConfig): string {
  return `${appendConstants(config)}
${APPEND_PARAMS_WGSL}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> seqs: array<u32>;
@group(0) @binding(2) var<storage, read> rotated: array<f32>;
@group(0) @binding(3) var<storage, read_write> k_mean: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let index = gid.x;
  if (index >= params.sequences * KV_HEADS * HEAD_DIM) {
    return;
  }
  let s = index / (KV_HEADS * HEAD_DIM);
  let within = index % (KV_HEADS * HEAD_DIM); // g * HEAD_DIM + d
  let g = within / HEAD_DIM;
  let d = within % HEAD_DIM;
  let b = seqs[s * SEQUENCE_WORDS];
  let length_before = seqs[s * SEQUENCE_WORDS + 1u];
  let mean_index = b * KV_HEADS * HEAD_DIM + within;
  var mean = k_mean[mean_index];
  for (var t = 0u; t < params.tokens; t++) {
    let x = rotated[((s * KV_HEADS + g) * params.tokens + t) * HEAD_DIM + d];
    mean += (x - mean) / f32(length_before + t + 1u);
  }
  k_mean[mean_index] = mean;
}
`;
}
