// layout: x f32[G,T,D] · mean f32[G,D] — mean over the T tokens of each (group, channel); G = batch·kvHeads
// K smoothing (SageAttention) and V smoothing subtract this mean before quantizing.

struct Params {
  tokens: u32,
  channels: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;

const CHANNELS_PER_WORKGROUP: u32 = 32u;
const TOKEN_LANES: u32 = 8u; // 32 channels × 8 token lanes: each token row is read as one 128-byte segment

var<workgroup> partial: array<f32, 256>; // (TOKEN_LANES, CHANNELS_PER_WORKGROUP)

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let g = wg.y;
  let c = tid % CHANNELS_PER_WORKGROUP;
  let lane = tid / CHANNELS_PER_WORKGROUP;
  let d = wg.x * CHANNELS_PER_WORKGROUP + c;
  var sum = 0.0;
  if (d < params.channels) {
    for (var t = lane; t < params.tokens; t += TOKEN_LANES) {
      sum += x[(g * params.tokens + t) * params.channels + d];
    }
  }
  partial[tid] = sum;
  workgroupBarrier();
  if (lane == 0u && d < params.channels) {
    var total = 0.0;
    for (var l = 0u; l < TOKEN_LANES; l++) {
      total += partial[l * CHANNELS_PER_WORKGROUP + c];
    }
    mean[g * params.channels + d] = total / f32(params.tokens);
  }
}
