import { CHUNK_WGSL, type DecodeKernelConfig, SOFTMAX_WGSL, decodeHeader, decodeKernelKey } from './decode-common.wgsl.js';

/**
 * decode_buffer: one workgroup per (row tile · kv head, sequence), grid (1, kvHeads · rowTiles, batch). Continues the
 * last split's state over the INT8 buffer (the newest tokens, fewer than a page; one scale per token), read in place:
 * K rows as they are (token-major), V transposed to channel-major on the way into workgroup memory. Bindings:
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
var<private> buffer_row0: u32; // first buffer row of this (sequence, kv head): group · PAGE_SIZE

fn load_k_tile(tid: u32, key0: u32, n: u32) {
  let keys = min(KT, n - key0);
  for (var e = tid; e < keys * D_WORDS; e += WG) {
    let t = e / D_WORDS;
    k_tile[t * K_STRIDE + e % D_WORDS] = k_codes[(buffer_row0 + key0 + t) * D_WORDS + e % D_WORDS];
  }
}

// Rows past the buffered tokens hold stale codes: their P codes are 0.
fn load_v_tile(tid: u32, d0: u32) {
  let channels = min(DV, HEAD_DIM - d0);
  for (var e = tid; e < channels * T_WORDS; e += WG) {
    let d = d0 + e / T_WORDS;
    let tw = e % T_WORDS;
    var word = 0u;
    for (var j = 0u; j < bound(4u); j++) {
      let source = v_codes[(buffer_row0 + tw * 4u + j) * D_WORDS + d / 4u];
      word |= ((source >> (8u * (d % 4u))) & 0xffu) << (8u * j);
    }
    v_tile[(e / T_WORDS) * V_STRIDE + tw] = word;
  }
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
  let buffered = select(0u, (length - SINK_TOKENS) % PAGE_SIZE, length > SINK_TOKENS);
  if (buffered == 0u) {
    return;
  }
  let group = b * params.kv_heads + g;
  let split = splits_of(length) - 1u;
  buffer_row0 = group * PAGE_SIZE;
  load_state(tid, group, split, row0, rows);
  load_q(tid, group, row0, rows, length);
  for (var t = tid; t < PAGE_SIZE; t += WG) {
    k_scale_wg[t] = select(0.0, k_scales[buffer_row0 + t], t < buffered);
    v_scale_wg[t] = select(0.0, v_scales[buffer_row0 + t], t < buffered);
  }
  attend_chunk(tid, rows, buffered, SINK_TOKENS + pages_of(length) * PAGE_SIZE);
  store_state(tid, group, split, row0, rows);
}
`;
}

/** Pipeline key of {@link decodeBufferWgsl}. */
export function decodeBufferKey(config: DecodeKernelConfig): string {
  return `qattn/decode_buffer:${decodeKernelKey(config)}`;
}
