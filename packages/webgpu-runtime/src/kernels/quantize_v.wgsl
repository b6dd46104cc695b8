// layout: v f32[G,T,D] · mean f32[G,D] · scale f32[G,KB,D] · codes u32[G,D,vWords] — V transposed so that one u32
// packs PV_ELEMS consecutive keys of a channel: 4×int8 (the operand layout of dot4I8Packed in P·V) or, for
// pv:'fp16', 2×f16. Keys past T are zero. Injected before this file: PV_ELEMS, PV_FP16.
// Codes: round-half-to-even((v − mean) / scale[block(t), d]) clamped to [−127, 127].
// A thread transposes in registers: it reads PV_ELEMS rows × 4 channels (vec4 loads) and writes the 4 channels'
// words. Within a warp, 8 consecutive words × 4 channel quads: reads are 64-byte runs of 8 rows, writes 32-byte runs
// (one sector) of 4 channels — both coalesced, where one thread per word wrote 4-byte scattered stores.

struct Params {
  tokens: u32,
  channels: u32,
  words: u32, // vWords = ceil(T / PV_ELEMS)
  block_tokens: u32,
  blocks: u32,
  subtract_mean: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> mean: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> scale: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> codes: array<u32>;

const WORKGROUP_SIZE: u32 = 256u;
const WORD_TILE: u32 = 16u; // words per workgroup
const WORD_LANES: u32 = 8u; // consecutive words per channel within a warp: 8 u32 = one 32-byte sector

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let g = wg.y;
  let quads = params.channels / 4u;
  for (var i = tid; i < WORD_TILE * quads; i += WORKGROUP_SIZE) {
    let word = wg.x * WORD_TILE + (i / (WORD_LANES * quads)) * WORD_LANES + i % WORD_LANES;
    let quad = (i / WORD_LANES) % quads;
    if (word >= params.words) {
      continue;
    }
    var offset = vec4<f32>(0.0);
    if (params.subtract_mean != 0u) {
      offset = mean[g * quads + quad];
    }
    var values = array<vec4<f32>, PV_ELEMS>(); // keys past T stay 0
    var scales = array<vec4<f32>, PV_ELEMS>();
    for (var e = 0u; e < PV_ELEMS; e++) {
      let t = word * PV_ELEMS + e;
      if (t < params.tokens) {
        values[e] = v[(g * params.tokens + t) * quads + quad] - offset;
      } else {
        values[e] = vec4<f32>(0.0); // explicit: a loop-scoped var is not re-zeroed on every driver
      }
      if (!PV_FP16) {
        let clamped = min(t, params.tokens - 1u);
        scales[e] = scale[(g * params.blocks + clamped / params.block_tokens) * quads + quad];
      }
    }
    for (var j = 0u; j < 4u; j++) {
      var packed = 0u;
      if (PV_FP16) {
        packed = pack2x16float(vec2<f32>(values[0][j], values[min(1u, PV_ELEMS - 1u)][j]));
      } else {
        for (var e = 0u; e < PV_ELEMS; e++) {
          let code = clamp(round(values[e][j] / scales[e][j]), -127.0, 127.0);
          packed |= (u32(i32(code)) & 0xffu) << (8u * e);
        }
      }
      codes[(g * params.channels + quad * 4u + j) * params.words + word] = packed;
    }
  }
}
