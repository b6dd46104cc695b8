import { wgslFloat } from '@qattn/webgpu-runtime';
import { type DecodeKernelConfig, decodeHeader, decodeKernelKey } from './decode-common.wgsl.js';

/**
 * decode_combine: one workgroup per (query row, kv head, sequence), grid (rowsTotal, kvHeads, batch). Merges the
 * row's split states (split-KV's combine, the oracle's mergeStateRows over all splits at once): lse₂ₛ = mₛ + log2 lₛ,
 * M = max lse₂ₛ, out = Σₛ 2^(lse₂ₛ − M) · accₛ/lₛ / Σₛ 2^(lse₂ₛ − M), lse = (M + log2 Σ) · ln 2; then un-rotates the
 * row (s ∘ H·out/√D) and writes it. A row that saw no key gets 0 and lse −∞ (written as its bits). Bindings:
 *   tables i32   state f32 (read)   out f32 [batch, heads, queryTokens, headDim]   lse u32 [batch, heads, queryTokens]
 */
export function decodeCombineWgsl(config: DecodeKernelConfig): string {
  return `${decodeHeader(config, 1)}
const ROT_NORM: f32 = ${wgslFloat(1 / Math.sqrt(config.headDim))};
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tables: array<i32>;
@group(0) @binding(2) var<storage, read> state: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse_bits: array<u32>;

var<workgroup> row_wg: array<f32, HEAD_DIM>;
var<workgroup> weights: array<f32, WG>; // 2^(lse₂ₛ − M) / (Σ · lₛ) of WG splits at a time
var<workgroup> red: array<f32, WG>;
var<workgroup> shared_value: f32;

// lse₂ of split s (MASKED when it saw no key).
fn split_lse2(base: u32) -> f32 {
  let l = state[base + HEAD_DIM + 1u];
  return select(MASKED, state[base + HEAD_DIM] + log2(l), l > 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let r = wg.x;
  let g = wg.y;
  let b = wg.z;
  let group = b * params.kv_heads + g;
  let splits = splits_of(length_of(b));

  var local_max = MASKED;
  for (var s = tid; s < splits; s += WG) {
    local_max = max(local_max, split_lse2(state_base(group, s, r)));
  }
  red[tid] = local_max;
  workgroupBarrier();
  if (tid == 0u) {
    var m = MASKED;
    for (var j = 0u; j < bound(WG); j++) {
      m = max(m, red[j]);
    }
    shared_value = m;
  }
  let m = workgroupUniformLoad(&shared_value);
  let live = m > MASK_LIMIT;
  var local_sum = 0.0;
  for (var s = tid; s < splits; s += WG) {
    let lse2 = split_lse2(state_base(group, s, r));
    if (live && lse2 > MASK_LIMIT) {
      local_sum += exp2(lse2 - m);
    }
  }
  red[tid] = local_sum;
  workgroupBarrier();
  if (tid == 0u) {
    var sum = 0.0;
    for (var j = 0u; j < bound(WG); j++) {
      sum += red[j];
    }
    shared_value = sum;
  }
  let total = workgroupUniformLoad(&shared_value);

  for (var d = tid; d < HEAD_DIM; d += WG) {
    row_wg[d] = 0.0;
  }
  for (var s0 = 0u; s0 < splits; s0 += WG) {
    workgroupBarrier();
    var w = 0.0;
    if (live && s0 + tid < splits) {
      let base = state_base(group, s0 + tid, r);
      let lse2 = split_lse2(base);
      if (lse2 > MASK_LIMIT) {
        w = exp2(lse2 - m) / (total * state[base + HEAD_DIM + 1u]);
      }
    }
    weights[tid] = w;
    workgroupBarrier();
    let count = min(WG, splits - s0);
    for (var d = tid; d < HEAD_DIM; d += WG) {
      var o = row_wg[d];
      for (var j = 0u; j < count; j++) {
        let wj = weights[j];
        if (wj != 0.0) {
          o = fma(wj, state[state_base(group, s0 + j, r) + d], o);
        }
      }
      row_wg[d] = o;
    }
  }
  if (ROTATE) {
    for (var half = 1u; half < bound(HEAD_DIM); half <<= 1u) {
      workgroupBarrier();
      for (var p = tid; p < HEAD_DIM / 2u; p += WG) {
        let i = (p / half) * 2u * half + p % half;
        let a = row_wg[i];
        let c = row_wg[i + half];
        row_wg[i] = a + c;
        row_wg[i + half] = a - c;
      }
    }
  }
  workgroupBarrier();
  let h = g * params.group_size + r / params.query_tokens;
  let out_row = (b * params.heads + h) * params.query_tokens + r % params.query_tokens;
  for (var d = tid; d < HEAD_DIM; d += WG) {
    var x = row_wg[d];
    if (ROTATE) {
      x *= bitcast<f32>(tables[params.signs + d]) * ROT_NORM;
    }
    out[out_row * HEAD_DIM + d] = x;
  }
  if (tid == 0u) {
    lse_bits[out_row] = select(0xff800000u, bitcast<u32>((m + log2(total)) * LN2), live); // −∞ for a row without keys
  }
}
`;
}

/** Pipeline key of {@link decodeCombineWgsl}. */
export function decodeCombineKey(config: DecodeKernelConfig): string {
  return `qattn/decode_combine:${decodeKernelKey(config)}`;
}
