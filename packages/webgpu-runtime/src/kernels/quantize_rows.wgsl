// layout: x f32[G,T,D] · mean f32[G,D] · codes u32[G,T,D/4] (4×int8, little-endian) · row_scale f32[G,T]
// Symmetric INT8 of Q or K with one scale per group of ROWS tokens (1: per token; blockM/blockN: per block), the
// group's scale repeated on each of its rows. With subtract_mean, x − mean is quantized (K smoothing).
// Scale rule (same as quant-core `quantize`): max|x| = 0 → 1; all |x| equal to m → m; else max(max|x|/127, 2^-126).
// Codes: round-half-to-even(x / s) clamped to [−127, 127]. D is a multiple of 16: rows are read as vec4 words, and
// each vec4 becomes the one u32 of codes it packs.

struct Params {
  tokens: u32,
  channels: u32,
  rows_per_scale: u32,
  subtract_mean: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> mean: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> row_scale: array<f32>;

const WORKGROUP_SIZE: u32 = 256u;
// Per-token scales: a workgroup quantizes ROWS_PER_WORKGROUP rows, ROW_THREADS threads per row, each holding up to
// WORDS_PER_THREAD vec4 words in registers between the max pass and the code pass (headDim ≤ 256 → 64 words a row).
const ROW_THREADS: u32 = 32u;
const ROWS_PER_WORKGROUP: u32 = WORKGROUP_SIZE / ROW_THREADS;
const WORDS_PER_THREAD: u32 = 2u;
const MIN_SCALE: f32 = 1.1754943508222875e-38; // 2^-126

var<workgroup> abs_max: array<f32, WORKGROUP_SIZE>;
var<workgroup> abs_min: array<f32, WORKGROUP_SIZE>;

fn centered(g: u32, t: u32, w: u32) -> vec4<f32> {
  let words = params.channels / 4u;
  let value = x[(g * params.tokens + t) * words + w];
  if (params.subtract_mean != 0u) {
    return value - mean[g * words + w];
  }
  return value;
}

fn max4(m: vec4<f32>) -> f32 {
  return max(max(m.x, m.y), max(m.z, m.w));
}

fn min4(m: vec4<f32>) -> f32 {
  return min(min(m.x, m.y), min(m.z, m.w));
}

fn scale_of(group_max: f32, group_min: f32) -> f32 {
  if (group_max == 0.0) {
    return 1.0;
  }
  if (group_min == group_max) {
    return group_max;
  }
  return max(group_max / 127.0, MIN_SCALE);
}

fn pack_codes(value: vec4<f32>, scale: f32) -> u32 {
  var packed = 0u;
  for (var e = 0u; e < 4u; e++) {
    let code = clamp(round(value[e] / scale), -127.0, 127.0);
    packed |= (u32(i32(code)) & 0xffu) << (8u * e);
  }
  return packed;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let g = wg.y;
  let words = params.channels / 4u;
  if (params.rows_per_scale == 1u) {
    // Per token (the default): max and min are exact in any order, so a row's 32 threads reduce in a tree.
    let row = tid / ROW_THREADS;
    let lane = tid % ROW_THREADS;
    let t = wg.x * ROWS_PER_WORKGROUP + row;
    var values = array<vec4<f32>, WORDS_PER_THREAD>();
    var local_max = 0.0;
    var local_min = 3.0e38;
    if (t < params.tokens) {
      for (var i = 0u; i < WORDS_PER_THREAD; i++) {
        let w = lane + i * ROW_THREADS;
        if (w < words) {
          values[i] = centered(g, t, w);
          let magnitude = abs(values[i]);
          local_max = max(local_max, max4(magnitude));
          local_min = min(local_min, min4(magnitude));
        }
      }
    }
    abs_max[tid] = local_max;
    abs_min[tid] = local_min;
    for (var stride = ROW_THREADS / 2u; stride > 0u; stride /= 2u) {
      workgroupBarrier();
      if (lane < stride) {
        abs_max[tid] = max(abs_max[tid], abs_max[tid + stride]);
        abs_min[tid] = min(abs_min[tid], abs_min[tid + stride]);
      }
    }
    workgroupBarrier();
    if (t < params.tokens) {
      let scale = scale_of(abs_max[row * ROW_THREADS], abs_min[row * ROW_THREADS]);
      for (var i = 0u; i < WORDS_PER_THREAD; i++) {
        let w = lane + i * ROW_THREADS;
        if (w < words) {
          codes[(g * params.tokens + t) * words + w] = pack_codes(values[i], scale);
        }
      }
      if (lane == 0u) {
        row_scale[g * params.tokens + t] = scale;
      }
    }
    return;
  }
  // Per block of rows_per_scale tokens: one workgroup per block, reading it twice (max, then codes).
  let t0 = wg.x * params.rows_per_scale;
  let rows = min(params.rows_per_scale, params.tokens - t0);
  var local_max = 0.0;
  var local_min = 3.0e38;
  for (var i = tid; i < rows * words; i += WORKGROUP_SIZE) {
    let magnitude = abs(centered(g, t0 + i / words, i % words));
    local_max = max(local_max, max4(magnitude));
    local_min = min(local_min, min4(magnitude));
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
  let scale = scale_of(abs_max[0], abs_min[0]);
  for (var i = tid; i < rows * words; i += WORKGROUP_SIZE) {
    codes[(g * params.tokens + t0) * words + i] = pack_codes(centered(g, t0 + i / words, i % words), scale);
  }
  for (var r = tid; r < rows; r += WORKGROUP_SIZE) {
    row_scale[g * params.tokens + t0 + r] = scale;
  }
}
