import { CHUNK_WGSL, type DecodeKernelConfig, SOFTMAX_WGSL, decodeHeader, decodeKernelKey } from './decode-common.wgsl.js';

/**
 * decode_buffer: one workgroup per (row tile · kv head, sequence), grid (1, kvHeads · rowTiles, batch). Continues the
 * last split's state over the INT8 buffer (the newest tokens, fewer than a page; one scale per token), read in place:
 * K rows as they are (token-major) against q̂; V's channel d of four tokens gathered from four rows into one word for
 * dot4 against P̂ (CHUNK_WGSL). Bindings:
 *   tables i32   qprep u32 (read)   state f32 (read_write)
 *   k_codes, v_codes u32 [batch, kvHeads, pageSize, D_WORDS] (int8 ×4)   k_scales, v_scales f32 [batch, kvHeads, pageSize]
 */
export function decodeBufferWgsl(config: DecodeKernelConfig): string {
  return `${decodeHeader(config, config.pageSize)}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tables: array<i32>;
@group(0) @binding(2) var<storage, read> qprep: array<u32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;
@group(0) @binding(4) var<storage, read> k_codes: array<u32>;
@group(0) @binding(5) var<storage, read> k_scales: array<f32>;
@group(0) @binding(6) var<storage, read> v_codes: array<u32>;
@group(0) @binding(7) var<storage, read> v_scales: array<f32>;
${SOFTMAX_WGSL}
${CHUNK_WGSL}
var<workgroup> v_ops: array<vec4<u32>, RB * T_WORDS>; // (RB, T_WORDS) P̂ of four consecutive tokens
var<private> buffer_row0: u32; // first buffer row of this (sequence, kv head): group · PAGE_SIZE

var<private> buffered: u32; // tokens in the buffer

// Rows past the buffered tokens hold stale codes: their scales, hence their P̂, are 0.
fn k_scale_of(t: u32) -> f32 {
  return select(0.0, k_scales[buffer_row0 + t], t < buffered);
}
fn v_scale_of(t: u32) -> f32 {
  return select(0.0, v_scales[buffer_row0 + t], t < buffered);
}

// INT8 rows: q_ops as they are.
fn fold_k(tid: u32, rows: u32) {}

fn k_dot(t: u32, b: u32) -> vec4<i32> {
  var sum = vec4<i32>(0);
  let base = (buffer_row0 + t) * D_WORDS;
  for (var w = 0u; w < bound(D_WORDS); w++) {
    sum += dot4_rows(k_codes[base + w], q_ops[b * D_WORDS + w]);
  }
  return sum;
}

fn k_dot_keys(tid: u32, b: u32, n: u32) -> array<vec4<i32>, KPL> {
  var dots: array<vec4<i32>, KPL>;
  for (var k = 0u; k < bound(KPL); k++) {
    let t = tid + k * WG;
    if (t < n) {
      dots[k] = k_dot(t, b);
    }
  }
  return dots;
}

fn pack_v(tid: u32, rows: u32, n: u32) {
  let blocks = (rows + 3u) / 4u;
  for (var e = tid; e < blocks * T_WORDS; e += WG) {
    let b = e / T_WORDS;
    let t0 = 4u * (e % T_WORDS);
    var codes = vec4<u32>(0u);
    for (var k = 0u; k < 4u; k++) {
      codes |= p_codes(b, t0 + k) << vec4<u32>(8u * k);
    }
    v_ops[e] = codes;
  }
}

// Channel d of tokens 4g..4g+3: byte d % 4 of word d / 4 of four token-major rows.
fn v_dot(d: u32, b: u32, n: u32) -> vec4<i32> {
  var sum = vec4<i32>(0);
  let shift = 8u * (d % 4u);
  for (var g = 0u; g < (n + 3u) / 4u; g++) {
    let row = (buffer_row0 + 4u * g) * D_WORDS + d / 4u;
    var word = 0u;
    for (var k = 0u; k < 4u; k++) {
      word |= ((v_codes[row + k * D_WORDS] >> shift) & 0xffu) << (8u * k);
    }
    sum += dot4_rows(word, v_ops[b * T_WORDS + g]);
  }
  return sum;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let b = wg.z;
  let g = wg.y / params.row_tiles;
  let row0 = tile_row0(wg.y % params.row_tiles);
  let rows = tile_rows(wg.y % params.row_tiles);
  if (rows == 0u) {
    return;
  }
  let length = length_of(b);
  let n = select(0u, (length - SINK_TOKENS) % PAGE_SIZE, length > SINK_TOKENS);
  if (n == 0u) {
    return;
  }
  let group = b * params.kv_heads + g;
  let split = splits_of(length) - 1u;
  buffer_row0 = group * PAGE_SIZE;
  buffered = n;
  load_state(tid, group, split, row0, rows);
  load_q(tid, group, row0, rows, length);
  workgroupBarrier();
  attend_chunk(tid, rows, n, SINK_TOKENS + pages_of(length) * PAGE_SIZE);
  store_state(tid, group, split, row0, rows);
}
`;
}

/** Pipeline key of {@link decodeBufferWgsl}. */
export function decodeBufferKey(config: DecodeKernelConfig): string {
  return `qattn/decode_buffer:${decodeKernelKey(config)}`;
}
