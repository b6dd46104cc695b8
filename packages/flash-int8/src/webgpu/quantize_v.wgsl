// layout: v f32[G,T,D] · mean f32[G,D] · scale f32[G,KB,D] · codes u32[G,D,vWords] — V transposed so that one u32
// packs PV_ELEMS consecutive keys of a channel: 4×int8 (the operand layout of dot4I8Packed in P·V) or, for
// pv:'fp16', 2×f16. Keys past T are zero. Injected before this file: PV_ELEMS, PV_FP16.
// Codes: round-half-to-even((v − mean) / scale[block(t), d]) clamped to [−127, 127].

struct Params {
  tokens: u32,
  channels: u32,
  words: u32, // vWords = ceil(T / PV_ELEMS)
  block_tokens: u32,
  blocks: u32,
  subtract_mean: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> codes: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let g = wg.y;
  let index = wg.x * 256u + tid; // channel-fastest: neighbouring threads read neighbouring floats of a token row
  if (index >= params.channels * params.words) {
    return;
  }
  let d = index % params.channels;
  let word = index / params.channels;
  var offset = 0.0;
  if (params.subtract_mean != 0u) {
    offset = mean[g * params.channels + d];
  }
  var values = array<f32, PV_ELEMS>(); // keys past T stay 0
  for (var e = 0u; e < PV_ELEMS; e++) {
    let t = word * PV_ELEMS + e;
    if (t < params.tokens) {
      values[e] = v[(g * params.tokens + t) * params.channels + d] - offset;
    }
  }
  var packed = 0u;
  if (PV_FP16) {
    packed = pack2x16float(vec2<f32>(values[0], values[min(1u, PV_ELEMS - 1u)]));
  } else {
    for (var e = 0u; e < PV_ELEMS; e++) {
      let t = min(word * PV_ELEMS + e, params.tokens - 1u);
      let s = scale[(g * params.blocks + t / params.block_tokens) * params.channels + d];
      let code = clamp(round(values[e] / s), -127.0, 127.0);
      packed |= (u32(i32(code)) & 0xffu) << (8u * e);
    }
  }
  codes[(g * params.channels + d) * params.words + word] = packed;
}
