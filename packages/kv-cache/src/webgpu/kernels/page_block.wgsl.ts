import type { KVCacheConfig } from '../../options.js';
import { APPEND_PARAMS_WGSL, INT8_BYTE_WGSL, appendConstants } from './append-constants.js';

/**
 * page_block: one workgroup per (flush job j, kv head g): gathers the page's pageSize INT8 rows — from the INT8 buffer
 * (rows appended before this call) or from append_rows' output — and, for INT4/INT2 caches, re-quantizes them to one
 * block scale (int8-rows.ts `requantizeBlockInt8`) and computes the head's priority gap × std × s_b² (page-codec.ts
 * `choosePageBits`, only with 2-bit heads). Bindings:
 *   row_codes/row_scales        append_rows' output;   buffer_codes/buffer_scales  the cache's INT8 buffer
 *   block_codes u32 [jobs, kvHeads, pageSize, headDim/4]  the page's INT8 block, token-major (int8 ×4)
 *   job_state   u32 [jobs, kvHeads, 4 + pageSize]        block scale, priority (f32 bits), then the token scales
 */
export function pageBlockWgsl(config: KVCacheConfig, lowHeads: number): string {
  return `${appendConstants(config, { REQUANTIZE: config.bits !== 8, PRIORITY: lowHeads > 0, BLOCK_VALUES: config.pageSize * config.headDim })}
${APPEND_PARAMS_WGSL}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> seqs: array<u32>;
@group(0) @binding(2) var<storage, read> jobs: array<u32>;
@group(0) @binding(3) var<storage, read> row_codes: array<u32>;
@group(0) @binding(4) var<storage, read> row_scales: array<f32>;
@group(0) @binding(5) var<storage, read> buffer_codes: array<u32>;
@group(0) @binding(6) var<storage, read> buffer_scales: array<f32>;
@group(0) @binding(7) var<storage, read_write> block_codes: array<u32>;
@group(0) @binding(8) var<storage, read_write> job_state: array<u32>;

var<workgroup> reduce_f: array<f32, WG>;
var<workgroup> reduce_min: array<i32, WG>;
var<workgroup> reduce_max: array<i32, WG>;
var<workgroup> reduce_sum: array<i32, WG>;

${INT8_BYTE_WGSL}

// Word w of page row r (job j, head g): where that row lives before this append's compression.
fn source_word(j: u32, g: u32, r: u32, w: u32) -> u32 {
  let job = j * JOB_WORDS;
  let b = jobs[job];
  let page = jobs[job + 1u];
  let s = jobs[job + 2u];
  let length_before = seqs[s * SEQUENCE_WORDS + 1u];
  let position = SINK_TOKENS + page * PAGE_SIZE + r;
  if (position < length_before) {
    return buffer_codes[((b * KV_HEADS + g) * PAGE_SIZE + r) * HEAD_WORDS + w];
  }
  return row_codes[((s * KV_HEADS + g) * params.tokens + (position - length_before)) * HEAD_WORDS + w];
}

fn source_scale(j: u32, g: u32, r: u32) -> f32 {
  let job = j * JOB_WORDS;
  let b = jobs[job];
  let page = jobs[job + 1u];
  let s = jobs[job + 2u];
  let length_before = seqs[s * SEQUENCE_WORDS + 1u];
  let position = SINK_TOKENS + page * PAGE_SIZE + r;
  if (position < length_before) {
    return buffer_scales[(b * KV_HEADS + g) * PAGE_SIZE + r];
  }
  return row_scales[(s * KV_HEADS + g) * params.tokens + (position - length_before)];
}

fn reduce_max_f(lid: u32) -> f32 {
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      reduce_f[lid] = max(reduce_f[lid], reduce_f[lid + stride]);
    }
    workgroupBarrier();
  }
  let result = reduce_f[0];
  workgroupBarrier();
  return result;
}

fn reduce_sum_f(lid: u32) -> f32 {
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      reduce_f[lid] += reduce_f[lid + stride];
    }
    workgroupBarrier();
  }
  let result = reduce_f[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y;
  for (var j = wid.x; j < params.jobs; j += groups.x) {
    let state = (j * KV_HEADS + g) * STATE_WORDS;
    let block = (j * KV_HEADS + g) * PAGE_SIZE * HEAD_WORDS;
    // s_b = max over rows of (max |code| · s_t) / 127.
    var magnitude = 0.0;
    for (var r = lid; r < PAGE_SIZE; r += WG) {
      let scale = source_scale(j, g, r);
      job_state[state + STATE_HEADER_WORDS + r] = bitcast<u32>(scale);
      var code_max = 0;
      for (var w = 0u; w < HEAD_WORDS; w++) {
        let word = source_word(j, g, r, w);
        for (var e = 0u; e < 4u; e++) {
          code_max = max(code_max, abs(int8_byte(word, e)));
        }
      }
      magnitude = max(magnitude, f32(code_max) * scale);
    }
    reduce_f[lid] = magnitude;
    let abs_max = reduce_max_f(lid);
    let block_scale = select(max(abs_max / 127.0, MIN_SCALE), 1.0, abs_max == 0.0);
    var low = 127;
    var high = -127;
    var sum = 0;
    for (var i = lid; i < PAGE_SIZE * HEAD_WORDS; i += WG) {
      let r = i / HEAD_WORDS;
      var word = source_word(j, g, r, i % HEAD_WORDS);
      if (REQUANTIZE) {
        let ratio = source_scale(j, g, r) / block_scale;
        var packed = 0u;
        for (var e = 0u; e < 4u; e++) {
          let code = i32(clamp(round(f32(int8_byte(word, e)) * ratio), -127.0, 127.0));
          low = min(low, code);
          high = max(high, code);
          sum += code;
          packed |= (bitcast<u32>(code) & 0xffu) << (8u * e);
        }
        word = packed;
      }
      block_codes[block + i] = word;
    }
    var priority = 0.0;
    if (PRIORITY) {
      // gap × population std of the head's INT8 block, two-pass (exactly 0 for a constant head), × s_b².
      reduce_min[lid] = low;
      reduce_max[lid] = high;
      reduce_sum[lid] = sum;
      workgroupBarrier();
      for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
          reduce_min[lid] = min(reduce_min[lid], reduce_min[lid + stride]);
          reduce_max[lid] = max(reduce_max[lid], reduce_max[lid + stride]);
          reduce_sum[lid] += reduce_sum[lid + stride];
        }
        workgroupBarrier();
      }
      let gap = f32(reduce_max[0] - reduce_min[0]);
      let mean = f32(reduce_sum[0]) / f32(BLOCK_VALUES);
      storageBarrier();
      var squares = 0.0;
      for (var i = lid; i < PAGE_SIZE * HEAD_WORDS; i += WG) {
        let word = block_codes[block + i];
        for (var e = 0u; e < 4u; e++) {
          let deviation = f32(int8_byte(word, e)) - mean;
          squares += deviation * deviation;
        }
      }
      reduce_f[lid] = squares;
      let total = reduce_sum_f(lid);
      priority = gap * sqrt(total / f32(BLOCK_VALUES)) * block_scale * block_scale;
    }
    if (lid == 0u) {
      job_state[state] = bitcast<u32>(block_scale);
      job_state[state + 1u] = bitcast<u32>(priority);
    }
    storageBarrier();
    workgroupBarrier();
  }
}
`;
}
