import type { KVCacheConfig } from '../../options.js';
import { APPEND_PARAMS_WGSL, appendConstants } from './append-constants.js';

/**
 * buffer_rows: one workgroup per appended row; the rows that stay in the INT8 buffer (past the sink, in the page that
 * is not full after this append) are copied to their buffer slot. Runs after page_block, which reads the rows the
 * buffer held before. Bindings:
 *   row_codes     u32 [sequences, kvHeads, tokens, headDim/4],  row_scales f32 [sequences, kvHeads, tokens]
 *   buffer_codes  u32 [batch, kvHeads, pageSize, headDim/4],    buffer_scales f32 [batch, kvHeads, pageSize]
 */
export function bufferRowsWgsl(config: KVCacheConfig): string {
  return `${appendConstants(config)}
${APPEND_PARAMS_WGSL}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> seqs: array<u32>;
@group(0) @binding(2) var<storage, read> row_codes: array<u32>;
@group(0) @binding(3) var<storage, read> row_scales: array<f32>;
@group(0) @binding(4) var<storage, read_write> buffer_codes: array<u32>;
@group(0) @binding(5) var<storage, read_write> buffer_scales: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = wid.z;
  let g = wid.y;
  let b = seqs[s * SEQUENCE_WORDS];
  let length_before = seqs[s * SEQUENCE_WORDS + 1u];
  let pages_after = seqs[s * SEQUENCE_WORDS + 4u];
  for (var t = wid.x; t < params.tokens; t += groups.x) {
    let position = length_before + t;
    if (position < SINK_TOKENS || (position - SINK_TOKENS) / PAGE_SIZE < pages_after) {
      continue;
    }
    let slot = (position - SINK_TOKENS) % PAGE_SIZE;
    let src_row = (s * KV_HEADS + g) * params.tokens + t;
    let dst_row = (b * KV_HEADS + g) * PAGE_SIZE + slot;
    for (var w = lid; w < HEAD_WORDS; w += WG) {
      buffer_codes[dst_row * HEAD_WORDS + w] = row_codes[src_row * HEAD_WORDS + w];
    }
    if (lid == 0u) {
      buffer_scales[dst_row] = row_scales[src_row];
    }
  }
}
`;
}
