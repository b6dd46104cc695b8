// layout: x f32[G,T,D] · mean f32[G,D] — mean over the T tokens of each (group, channel); G = batch·kvHeads
// K smoothing (SageAttention) and V smoothing subtract this mean before quantizing.
// Summation order (fixed, so the mean is the same bits on every schedule): token lane l = 0..7 sums t = l, l+8, …
// in order; the 8 lane sums are then added in lane order and divided by T.

struct Params {
  tokens: u32,
  channels: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;

const CHANNELS_PER_WORKGROUP: u32 = 8u; // 8 channels × 8 token lanes: a warp reads four full 32-byte sectors
const TOKEN_LANES: u32 = 8u;
const LOADS_IN_FLIGHT: u32 = 8u; // loads issued before their (in-order) adds: the chain is latency-bound otherwise

var<workgroup> partial: array<f32, 64>; // (TOKEN_LANES, CHANNELS_PER_WORKGROUP)

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let g = wg.y;
  let c = tid % CHANNELS_PER_WORKGROUP;
  let lane = tid / CHANNELS_PER_WORKGROUP;
  let d = wg.x * CHANNELS_PER_WORKGROUP + c;
  var sum = 0.0;
  if (d < params.channels) {
    let base = g * params.tokens * params.channels + d;
    let stride = TOKEN_LANES * params.channels;
    var t = lane;
    // Full batches: LOADS_IN_FLIGHT independent loads, then the adds in token order.
    for (; t + (LOADS_IN_FLIGHT - 1u) * TOKEN_LANES < params.tokens; t += LOADS_IN_FLIGHT * TOKEN_LANES) {
      var values = array<f32, LOADS_IN_FLIGHT>(); // explicit: a loop-scoped var is not re-zeroed on every driver
      for (var i = 0u; i < LOADS_IN_FLIGHT; i++) {
        values[i] = x[base + t * params.channels + i * stride];
      }
      for (var i = 0u; i < LOADS_IN_FLIGHT; i++) {
        sum += values[i];
      }
    }
    for (; t < params.tokens; t += TOKEN_LANES) {
      sum += x[base + t * params.channels];
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
