// layout: v f32[G,T,D] · mean f32[G,D] · scale f32[G,KB,D] — INT8 scale of V per (group, block of BLOCK_TOKENS keys,
// channel); KB = ceil(T / block_tokens). With per_head, every channel of a block gets the block's one scale (the
// paper's per-(batch, head) V scale is one block spanning all T tokens). V − mean is measured when subtract_mean.
// Scale rule (quant-core `quantize`): max|v| = 0 → 1; all |v| equal to m → m; else max(max|v|/127, 2^-126).
// Workgroup (block, g, z) covers channels [z·C, z·C + C), C = channels_per_workgroup (all D when per_head, else 8 so
// that G·KB·D/8 workgroups fill the GPU even when one block spans the whole sequence). Max and min are exact in any
// order, so how tokens are split over threads does not change the scale.

struct Params {
  tokens: u32,
  channels: u32,
  block_tokens: u32,
  blocks: u32,
  subtract_mean: u32,
  per_head: u32,
  channels_per_workgroup: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> scale: array<f32>;

const WORKGROUP_SIZE: u32 = 256u;
const MIN_SCALE: f32 = 1.1754943508222875e-38; // 2^-126

var<workgroup> abs_max: array<f32, WORKGROUP_SIZE>;
var<workgroup> abs_min: array<f32, WORKGROUP_SIZE>;

fn scale_of(max_abs: f32, min_abs: f32) -> f32 {
  if (max_abs == 0.0) {
    return 1.0;
  }
  if (min_abs == max_abs) {
    return max_abs;
  }
  return max(max_abs / 127.0, MIN_SCALE);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let g = wg.y;
  let block = wg.x;
  let t0 = block * params.block_tokens;
  let t1 = min(t0 + params.block_tokens, params.tokens);
  // Threads = channels × token lanes (lanes = 256 / channels, at least 1): channel-fastest reads are coalesced.
  let width = params.channels_per_workgroup;
  let lanes = max(1u, WORKGROUP_SIZE / width);
  let c = tid % width;
  let d = wg.z * width + c;
  let lane = tid / width;
  var local_max = 0.0;
  var local_min = 3.0e38;
  if (lane < lanes && d < params.channels) {
    var offset = 0.0;
    if (params.subtract_mean != 0u) {
      offset = mean[g * params.channels + d];
    }
    for (var t = t0 + lane; t < t1; t += lanes) {
      let magnitude = abs(v[(g * params.tokens + t) * params.channels + d] - offset);
      local_max = max(local_max, magnitude);
      local_min = min(local_min, magnitude);
    }
  }
  abs_max[tid] = local_max;
  abs_min[tid] = local_min;
  workgroupBarrier();
  if (params.per_head != 0u) {
    for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
      if (tid < stride) {
        abs_max[tid] = max(abs_max[tid], abs_max[tid + stride]);
        abs_min[tid] = min(abs_min[tid], abs_min[tid + stride]);
      }
      workgroupBarrier();
    }
    for (var ch = tid; ch < params.channels; ch += WORKGROUP_SIZE) {
      scale[(g * params.blocks + block) * params.channels + ch] = scale_of(abs_max[0], abs_min[0]);
    }
    return;
  }
  if (lane == 0u && d < params.channels) {
    var block_max = 0.0;
    var block_min = 3.0e38;
    for (var l = 0u; l < lanes; l++) {
      block_max = max(block_max, abs_max[l * width + c]);
      block_min = min(block_min, abs_min[l * width + c]);
    }
    scale[(g * params.blocks + block) * params.channels + d] = scale_of(block_max, block_min);
  }
}
