// layout: x f32[G,T,D] · mean f32[G,D] · codes u32[G,T,D/4] (4×int8, little-endian) · row_scale f32[G,T]
// Symmetric INT8 of Q or K with one scale per group of ROWS tokens (1: per token; blockM/blockN: per block), the
// group's scale repeated on each of its rows. With subtract_mean, x − mean is quantized (K smoothing).
// Scale rule (same as quant-core `quantize`): max|x| = 0 → 1; all |x| equal to m → m; else max(max|x|/127, 2^-126).
// Codes: round-half-to-even(x / s) clamped to [−127, 127].

struct Params {
  tokens: u32,
  channels: u32,
  rows_per_scale: u32,
  subtract_mean: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> row_scale: array<f32>;

const WORKGROUP_SIZE: u32 = 64u;
const MIN_SCALE: f32 = 1.1754943508222875e-38; // 2^-126

var<workgroup> abs_max: array<f32, WORKGROUP_SIZE>;
var<workgroup> abs_min: array<f32, WORKGROUP_SIZE>;

fn centered(g: u32, t: u32, d: u32) -> f32 {
  let value = x[(g * params.tokens + t) * params.channels + d];
  if (params.subtract_mean != 0u) {
    return value - mean[g * params.channels + d];
  }
  return value;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let g = wg.y;
  let t0 = wg.x * params.rows_per_scale;
  let rows = min(params.rows_per_scale, params.tokens - t0);
  let elements = rows * params.channels;
  var local_max = 0.0;
  var local_min = 3.0e38;
  for (var e = tid; e < elements; e += WORKGROUP_SIZE) {
    let magnitude = abs(centered(g, t0 + e / params.channels, e % params.channels));
    local_max = max(local_max, magnitude);
    local_min = min(local_min, magnitude);
  }
  abs_max[tid] = local_max;
  abs_min[tid] = local_min;
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (tid < stride) {
      abs_max[tid] = max(abs_max[tid], abs_max[tid + stride]);
      abs_min[tid] = min(abs_min[tid], abs_min[tid + stride]);
    }
  }
  workgroupBarrier();
  let group_max = abs_max[0];
  let group_min = abs_min[0];
  var scale = max(group_max / 127.0, MIN_SCALE);
  if (group_max == 0.0) {
    scale = 1.0;
  } else if (group_min == group_max) {
    scale = group_max;
  }
  let words_per_row = params.channels / 4u;
  for (var i = tid; i < rows * words_per_row; i += WORKGROUP_SIZE) {
    let t = t0 + i / words_per_row;
    let d0 = (i % words_per_row) * 4u;
    var packed = 0u;
    for (var e = 0u; e < 4u; e++) {
      let code = clamp(round(centered(g, t, d0 + e) / scale), -127.0, 127.0);
      packed |= (u32(i32(code)) & 0xffu) << (8u * e);
    }
    codes[(g * params.tokens + t) * words_per_row + d0 / 4u] = packed;
  }
  for (var r = tid; r < rows; r += WORKGROUP_SIZE) {
    row_scale[g * params.tokens + t0 + r] = scale;
  }
}
