// layout: q vec4<elem_t>[B,H,Sq,D/4] · k vec4<elem_t>[B,Hkv,Skv,D/4] · v vec4<elem_t>[B,Hkv,Skv,D/4] · out out_t[B,H,Sq,D]
// FlashAttention-2 forward in f32 or f16 (f32 softmax and accumulation): the baseline the INT8 kernel is measured
// against. Same tiles and thread mapping as attn_fwd_int8.wgsl; V stays row-major because a float P·V is a vec4 FMA
// over channels, with no packed-dot operand layout to satisfy.
// Injected before this file (see attn-fwd-float.ts): elem_t, out_t, fn to_out, HEAD_DIM, QK_WORDS, QK_STRIDE,
// BLOCK_M, BLOCK_N, ROWS_PER_THREAD, THREADS_PER_ROW, CHANNEL_WORDS_PER_THREAD, KEY_GROUPS_PER_THREAD,
// WORKGROUP_SIZE, P_STRIDE, the loop bounds fn qk_word_count() / pv_key_count(), and attn_common.wgsl.

struct Params {
  heads: u32,
  kv_heads: u32,
  seq_q: u32,
  seq_kv: u32,
  group_size: u32,
  causal: u32,
  causal_offset: i32,
  sm_scale_log2: f32,
  qk_words: u32, // HEAD_DIM / 4, for loops the schedule keeps rolled
  block_n: u32, // BLOCK_N, likewise
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<elem_t>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<elem_t>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<elem_t>>;
@group(0) @binding(4) var<storage, read_write> out: array<out_t>;

var<workgroup> q_smem: array<vec4<elem_t>, BLOCK_M * QK_STRIDE>; // (BLOCK_M, QK_WORDS) + pad
var<workgroup> k_smem: array<vec4<elem_t>, BLOCK_N * QK_STRIDE>; // (BLOCK_N, QK_WORDS) + pad
var<workgroup> v_smem: array<vec4<elem_t>, BLOCK_N * QK_STRIDE>; // (BLOCK_N, QK_WORDS) + pad
var<workgroup> p_smem: array<f32, BLOCK_M * P_STRIDE>; // (BLOCK_M, BLOCK_N) + pad
var<workgroup> row_partial: array<f32, BLOCK_M * THREADS_PER_ROW>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let bh = wg.y;
  let h = bh % params.heads;
  let b = bh / params.heads;
  let kv_head = b * params.kv_heads + h / params.group_size;
  let q_start = wg.x * BLOCK_M;
  let row_group = tid / THREADS_PER_ROW;
  let lane = tid % THREADS_PER_ROW;
  let row0 = row_group * ROWS_PER_THREAD;
  let q_row_base = bh * params.seq_q;
  let k_row_base = kv_head * params.seq_kv;

  for (var i = tid; i < BLOCK_M * QK_WORDS; i += WORKGROUP_SIZE) {
    let r = i / QK_WORDS;
    let w = i % QK_WORDS;
    let query = q_start + r;
    var word = vec4<elem_t>();
    if (query < params.seq_q) {
      word = q[(q_row_base + query) * QK_WORDS + w];
    }
    q_smem[r * QK_STRIDE + w] = word;
  }

  var last_key: array<i32, ROWS_PER_THREAD>;
  var m_run: array<f32, ROWS_PER_THREAD>;
  var l_run = array<f32, ROWS_PER_THREAD>();
  var o_acc = array<array<vec4<f32>, CHANNEL_WORDS_PER_THREAD>, ROWS_PER_THREAD>();
  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    m_run[i] = NEG_BIG;
    last_key[i] = last_visible_key(q_start + row0 + i);
  }

  let kv_end = key_range_end(q_start);
  for (var kv_start = 0u; kv_start < kv_end; kv_start += BLOCK_N) {
    workgroupBarrier();
    for (var i = tid; i < BLOCK_N * QK_WORDS; i += WORKGROUP_SIZE) {
      let r = i / QK_WORDS;
      let w = i % QK_WORDS;
      let key = kv_start + r;
      var k_word = vec4<elem_t>();
      var v_word = vec4<elem_t>();
      if (key < params.seq_kv) {
        k_word = k[(k_row_base + key) * QK_WORDS + w];
        v_word = v[(k_row_base + key) * QK_WORDS + w];
      }
      k_smem[r * QK_STRIDE + w] = k_word;
      v_smem[r * QK_STRIDE + w] = v_word;
    }
    workgroupBarrier();

    // Explicit zero value: a bare `var` in a loop body may keep the previous iteration's contents on some drivers.
    var s_acc = array<array<f32, KEYS_PER_THREAD>, ROWS_PER_THREAD>();
    for (var w = 0u; w < qk_word_count(); w++) {
      var q_word = array<vec4<elem_t>, ROWS_PER_THREAD>();
      for (var i = 0u; i < ROWS_PER_THREAD; i++) {
        q_word[i] = q_smem[(row0 + i) * QK_STRIDE + w];
      }
      for (var g = 0u; g < KEY_GROUPS_PER_THREAD; g++) {
        let group = min(g * THREADS_PER_ROW + lane, KEY_GROUPS - 1u);
        for (var e = 0u; e < 4u; e++) {
          let k_word = k_smem[(group * 4u + e) * QK_STRIDE + w];
          for (var i = 0u; i < ROWS_PER_THREAD; i++) {
            s_acc[i][g * 4u + e] += f32(dot(q_word[i], k_word));
          }
        }
      }
    }

    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      var tile_max = NEG_BIG;
      for (var g = 0u; g < KEY_GROUPS_PER_THREAD; g++) {
        let group = g * THREADS_PER_ROW + lane;
        for (var e = 0u; e < 4u; e++) {
          let visible = group < KEY_GROUPS && i32(kv_start + group * 4u + e) <= last_key[i];
          s_acc[i][g * 4u + e] = select(NEG_BIG, s_acc[i][g * 4u + e] * params.sm_scale_log2, visible);
          tile_max = max(tile_max, s_acc[i][g * 4u + e]);
        }
      }
      row_partial[(row0 + i) * THREADS_PER_ROW + lane] = tile_max;
    }
    workgroupBarrier();

    var alpha = array<f32, ROWS_PER_THREAD>();
    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      let m_new = max(m_run[i], row_partial_max(row0 + i));
      alpha[i] = exp2(m_run[i] - m_new);
      m_run[i] = m_new;
      var row_sum = 0.0;
      for (var g = 0u; g < KEY_GROUPS_PER_THREAD; g++) {
        let group = g * THREADS_PER_ROW + lane;
        if (group < KEY_GROUPS) {
          for (var e = 0u; e < 4u; e++) {
            let visible = i32(kv_start + group * 4u + e) <= last_key[i];
            let p = select(0.0, exp2(s_acc[i][g * 4u + e] - m_new), visible);
            p_smem[(row0 + i) * P_STRIDE + group * 4u + e] = p;
            row_sum += p;
          }
        }
      }
      l_run[i] = l_run[i] * alpha[i] + row_sum;
    }
    workgroupBarrier();

    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      for (var j = 0u; j < CHANNEL_WORDS_PER_THREAD; j++) {
        o_acc[i][j] *= alpha[i];
      }
    }
    for (var key = 0u; key < pv_key_count(); key++) {
      var p = array<f32, ROWS_PER_THREAD>();
      for (var i = 0u; i < ROWS_PER_THREAD; i++) {
        p[i] = p_smem[(row0 + i) * P_STRIDE + key];
      }
      for (var j = 0u; j < CHANNEL_WORDS_PER_THREAD; j++) {
        let v_word = vec4<f32>(v_smem[key * QK_STRIDE + lane + j * THREADS_PER_ROW]);
        for (var i = 0u; i < ROWS_PER_THREAD; i++) {
          o_acc[i][j] += p[i] * v_word;
        }
      }
    }
  }

  publish_row_sums(row0, lane, l_run);
  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    let query = q_start + row0 + i;
    if (query >= params.seq_q) {
      continue;
    }
    let inv_l = inverse_row_sum(row0 + i);
    for (var j = 0u; j < CHANNEL_WORDS_PER_THREAD; j++) {
      let d0 = (lane + j * THREADS_PER_ROW) * 4u;
      let o = o_acc[i][j] * inv_l;
      let base = (q_row_base + query) * HEAD_DIM + d0;
      out[base] = to_out(o.x);
      out[base + 1u] = to_out(o.y);
      out[base + 2u] = to_out(o.z);
      out[base + 3u] = to_out(o.w);
    }
  }
}
