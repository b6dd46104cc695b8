// layout: q_codes u32[B,H,Sq,D/4] (4×int8) · q_scale f32[B,H,Sq] · k_codes u32[B,Hkv,Skv,D/4] · k_scale f32[B,Hkv,Skv] · v_codes u32[B,Hkv,D,vWords] (V transposed, int8×4 or f16×2 along keys) · v_scale f32[B,Hkv,vBlocks,D] · v_mean f32[B,Hkv,D] · out f32|f16[B,H,Sq,D]
// INT-FlashAttention forward. One workgroup = BLOCK_M queries of one (batch, head); key tiles of BLOCK_N.
// Injected before this file (see attn-fwd-int8.ts): HEAD_DIM, QK_WORDS, QK_STRIDE, BLOCK_M, BLOCK_N, ROWS_PER_THREAD,
// THREADS_PER_ROW, CHANNELS_PER_THREAD, KEY_GROUPS_PER_THREAD, PV_CHANNEL_TILE, WORKGROUP_SIZE, PV_ELEMS, PV_WORDS,
// PV_STRIDE, PV_FP16, P_SCALE_ROWMAX, HEAVY_TILES_FIRST, alias out_t, fn dot4_i8(a, b) -> i32, fn to_out(x: f32) -> out_t, and the loop bounds
// fn qk_word_count() / pv_word_count() (constants, or uniforms where the schedule keeps those loops rolled).

struct Params {
  heads: u32,
  kv_heads: u32,
  seq_q: u32,
  seq_kv: u32,
  group_size: u32,
  causal: u32,
  causal_offset: i32, // seq_kv - seq_q: query i sees keys j <= i + causal_offset
  v_words: u32, // u32 words per transposed V row (ceil(seq_kv / PV_ELEMS))
  v_blocks: u32, // V scale blocks along keys (1 unless vGranularity is blockChannel)
  v_block_tiles: u32, // kernel key tiles per V scale block
  sm_scale_log2: f32,
  qk_words: u32, // HEAD_DIM / 4, for loops the schedule keeps rolled
  pv_words: u32, // PV_WORDS, likewise
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q_codes: array<u32>;
@group(0) @binding(2) var<storage, read> q_scale: array<f32>;
@group(0) @binding(3) var<storage, read> k_codes: array<u32>;
@group(0) @binding(4) var<storage, read> k_scale: array<f32>;
@group(0) @binding(5) var<storage, read> v_codes: array<u32>;
@group(0) @binding(6) var<storage, read> v_scale: array<f32>;
@group(0) @binding(7) var<storage, read> v_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<out_t>;

const KEYS_PER_THREAD: u32 = KEY_GROUPS_PER_THREAD * 4u;
const KEY_GROUPS: u32 = BLOCK_N / 4u;
const PV_CHANNEL_STEPS: u32 = CHANNELS_PER_THREAD / PV_CHANNEL_TILE;
// WGSL implementations may assume no infinities, so "no score yet" is a large finite negative number and masked
// entries are tracked by predicate, never by -inf arithmetic.
const NEG_BIG: f32 = -1.0e30;

var<workgroup> q_smem: array<u32, BLOCK_M * QK_STRIDE>; // (BLOCK_M, QK_WORDS) + pad
var<workgroup> k_smem: array<u32, BLOCK_N * QK_STRIDE>; // (BLOCK_N, QK_WORDS) + pad
var<workgroup> k_scale_smem: array<f32, BLOCK_N>;
var<workgroup> v_smem: array<u32, HEAD_DIM * PV_STRIDE>; // (HEAD_DIM, PV_WORDS) + pad, keys packed along words
var<workgroup> p_smem: array<u32, BLOCK_M * PV_STRIDE>; // (BLOCK_M, PV_WORDS) + pad
var<workgroup> row_partial: array<f32, BLOCK_M * THREADS_PER_ROW>; // per-thread row max, then row sum

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let bh = wg.y;
  let h = bh % params.heads;
  let b = bh / params.heads;
  let kv_head = b * params.kv_heads + h / params.group_size;
  // Causal query tiles see more keys the later they are; GPUs start workgroups roughly in index order, so starting the
  // longest ones first shortens the tail of the dispatch.
  let q_tile = select(wg.x, groups.x - 1u - wg.x, HEAVY_TILES_FIRST && params.causal != 0u);
  let q_start = q_tile * BLOCK_M;
  let row_group = tid / THREADS_PER_ROW;
  let lane = tid % THREADS_PER_ROW;
  let row0 = row_group * ROWS_PER_THREAD;
  let q_row_base = bh * params.seq_q;
  let k_row_base = kv_head * params.seq_kv;

  for (var i = tid; i < BLOCK_M * QK_WORDS; i += WORKGROUP_SIZE) {
    let r = i / QK_WORDS;
    let w = i % QK_WORDS;
    let query = q_start + r;
    var word = 0u;
    if (query < params.seq_q) {
      word = q_codes[(q_row_base + query) * QK_WORDS + w];
    }
    q_smem[r * QK_STRIDE + w] = word;
  }

  var q_descale: array<f32, ROWS_PER_THREAD>; // q_scale · sm_scale_log2
  var last_key: array<i32, ROWS_PER_THREAD>; // last visible key, -1 for padding rows
  var m_run: array<f32, ROWS_PER_THREAD>;
  var l_run: array<f32, ROWS_PER_THREAD>; // this thread's share of the row sum
  var o_acc = array<array<f32, CHANNELS_PER_THREAD>, ROWS_PER_THREAD>(); // running O (V descales applied per tile)
  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    let query = q_start + row0 + i;
    m_run[i] = NEG_BIG;
    l_run[i] = 0.0;
    if (query < params.seq_q) {
      q_descale[i] = q_scale[q_row_base + query] * params.sm_scale_log2;
      var last = i32(params.seq_kv) - 1;
      if (params.causal != 0u) {
        last = min(last, i32(query) + params.causal_offset);
      }
      last_key[i] = last;
    } else {
      q_descale[i] = 0.0;
      last_key[i] = -1;
    }
    for (var j = 0u; j < CHANNELS_PER_THREAD; j++) {
      o_acc[i][j] = 0.0;
    }
  }

  // Keys past the last query's last visible key are never visited (causal tiles above the diagonal).
  let last_query = min(q_start + BLOCK_M, params.seq_q) - 1u;
  var kv_end = params.seq_kv;
  if (params.causal != 0u) {
    kv_end = u32(clamp(i32(last_query) + params.causal_offset + 1, 0, i32(params.seq_kv)));
  }

  for (var kv_start = 0u; kv_start < kv_end; kv_start += BLOCK_N) {
    // Hazard: the previous tile's P·V still reads k/v/p_smem until every thread passes this barrier.
    workgroupBarrier();
    for (var i = tid; i < BLOCK_N * QK_WORDS; i += WORKGROUP_SIZE) {
      let r = i / QK_WORDS;
      let w = i % QK_WORDS;
      let key = kv_start + r;
      var word = 0u;
      if (key < params.seq_kv) {
        word = k_codes[(k_row_base + key) * QK_WORDS + w];
      }
      k_smem[r * QK_STRIDE + w] = word;
    }
    for (var i = tid; i < BLOCK_N; i += WORKGROUP_SIZE) {
      let key = kv_start + i;
      k_scale_smem[i] = select(0.0, k_scale[k_row_base + min(key, params.seq_kv - 1u)], key < params.seq_kv);
    }
    let v_word0 = kv_start / PV_ELEMS;
    for (var i = tid; i < HEAD_DIM * PV_WORDS; i += WORKGROUP_SIZE) {
      let d = i / PV_WORDS;
      let w = i % PV_WORDS;
      var word = 0u;
      if (v_word0 + w < params.v_words) {
        word = v_codes[(kv_head * HEAD_DIM + d) * params.v_words + v_word0 + w];
      }
      v_smem[d * PV_STRIDE + w] = word;
    }
    workgroupBarrier();

    // S = Q̂·K̂ᵀ, INT32 accumulation. This thread: rows row0.., key groups lane, lane + THREADS_PER_ROW, ...
    // Explicit zero value: a bare `var` in a loop body may keep the previous iteration's contents on some drivers.
    var s_acc = array<array<i32, KEYS_PER_THREAD>, ROWS_PER_THREAD>();
    for (var w = 0u; w < qk_word_count(); w++) {
      var q_word: array<u32, ROWS_PER_THREAD>;
      for (var i = 0u; i < ROWS_PER_THREAD; i++) {
        q_word[i] = q_smem[(row0 + i) * QK_STRIDE + w];
      }
      for (var g = 0u; g < KEY_GROUPS_PER_THREAD; g++) {
        // Groups past KEY_GROUPS (when BLOCK_N/4 is not a multiple of THREADS_PER_ROW) read key 0 and are masked.
        let group = min(g * THREADS_PER_ROW + lane, KEY_GROUPS - 1u);
        for (var e = 0u; e < 4u; e++) {
          let k_word = k_smem[(group * 4u + e) * QK_STRIDE + w];
          for (var i = 0u; i < ROWS_PER_THREAD; i++) {
            s_acc[i][g * 4u + e] += dot4_i8(q_word[i], k_word);
          }
        }
      }
    }

    // Online softmax in base 2: x = S · s_q · s_k · smScaleLog2.
    var x: array<array<f32, KEYS_PER_THREAD>, ROWS_PER_THREAD>;
    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      var tile_max = NEG_BIG;
      for (var g = 0u; g < KEY_GROUPS_PER_THREAD; g++) {
        let group = g * THREADS_PER_ROW + lane;
        for (var e = 0u; e < 4u; e++) {
          let local_key = group * 4u + e;
          let visible = group < KEY_GROUPS && i32(kv_start + local_key) <= last_key[i];
          let logit = f32(s_acc[i][g * 4u + e]) * q_descale[i] * k_scale_smem[min(local_key, BLOCK_N - 1u)];
          x[i][g * 4u + e] = select(NEG_BIG, logit, visible);
          tile_max = max(tile_max, x[i][g * 4u + e]);
        }
      }
      row_partial[(row0 + i) * THREADS_PER_ROW + lane] = tile_max;
    }
    workgroupBarrier();

    var alpha: array<f32, ROWS_PER_THREAD>; // exp2(m_old − m_new): rescale of the running o and l
    var pv_descale: array<f32, ROWS_PER_THREAD>; // P̂ → P
    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      var tile_max = NEG_BIG;
      for (var t = 0u; t < THREADS_PER_ROW; t++) {
        tile_max = max(tile_max, row_partial[(row0 + i) * THREADS_PER_ROW + t]);
      }
      let m_new = max(m_run[i], tile_max);
      alpha[i] = exp2(m_run[i] - m_new);
      m_run[i] = m_new;
      // 'rowmax': P̂ = round(P_CODE_MAX · P / max_tile P) with max_tile P = exp2(tile_max − m_new) ≤ 1, so small rows
      // keep every step; 'global': P̂ = round(P_CODE_MAX · P) (the paper, with P_CODE_MAX 127).
      let p_code_max = f32(P_CODE_MAX);
      var p_ref = m_new;
      var p_descale = 1.0 / p_code_max;
      if (P_SCALE_ROWMAX) {
        p_ref = tile_max;
        p_descale = exp2(tile_max - m_new) / p_code_max;
      }
      if (PV_FP16) {
        p_ref = m_new;
        p_descale = 1.0;
      }
      pv_descale[i] = p_descale;
      var row_sum = 0.0;
      for (var g = 0u; g < KEY_GROUPS_PER_THREAD; g++) {
        let group = g * THREADS_PER_ROW + lane;
        var p: array<f32, 4>;
        for (var e = 0u; e < 4u; e++) {
          let local_key = group * 4u + e;
          let visible = group < KEY_GROUPS && i32(kv_start + local_key) <= last_key[i];
          p[e] = select(0.0, exp2(x[i][g * 4u + e] - p_ref), visible);
          row_sum += p[e];
        }
        if (group < KEY_GROUPS) {
          if (PV_FP16) {
            let h01 = pack2x16float(vec2<f32>(p[0], p[1]));
            let h23 = pack2x16float(vec2<f32>(p[2], p[3]));
            p_smem[(row0 + i) * PV_STRIDE + group * 2u] = h01;
            p_smem[(row0 + i) * PV_STRIDE + group * 2u + 1u] = h23;
          } else {
            var packed = 0u;
            for (var e = 0u; e < 4u; e++) {
              let code = u32(round(p_code_max * p[e])); // in [0, P_CODE_MAX]: no sign bits to mask
              packed |= code << (8u * e);
            }
            p_smem[(row0 + i) * PV_STRIDE + group] = packed;
          }
        }
      }
      // l sums the f32 probabilities (FlashAttention-2, the paper, the CPU oracle), not the rounded P̂: rounding a tile's
      // many tiny probabilities to 0 would bias the sum. p is relative to p_ref, hence the factor exp2(p_ref − m_new).
      l_run[i] = l_run[i] * alpha[i] + row_sum * exp2(p_ref - m_new);
    }
    workgroupBarrier();

    // ΣP̂ of each row over the tile, for the u8·s8 correction (one unsigned dot product per word: bytes × 1).
    var p_code_sum = array<i32, ROWS_PER_THREAD>();
    if (P_CODES_U8 && !PV_FP16) {
      for (var w = 0u; w < pv_word_count(); w++) {
        for (var i = 0u; i < ROWS_PER_THREAD; i++) {
          p_code_sum[i] += dot4_u8(p_smem[(row0 + i) * PV_STRIDE + w], 0x01010101u);
        }
      }
    }

    // O = O·alpha + P̂·V̂ · descales. This thread: rows row0.., channels lane, lane + THREADS_PER_ROW, ...
    let v_block = min((kv_start / BLOCK_N) / params.v_block_tiles, params.v_blocks - 1u);
    // PV_CHANNEL_TILE channels at a time: one P word loaded from workgroup memory feeds that many dot products per row.
    // (Holding all of this thread's P rows in registers, 32 more at 4 rows × 32 keys, measured 10–50% slower on the
    // H200 through Vulkan: register pressure.)
    for (var jc = 0u; jc < PV_CHANNEL_STEPS; jc++) {
      var v_descale: array<f32, PV_CHANNEL_TILE>;
      var v_row: array<u32, PV_CHANNEL_TILE>; // v_smem offset of each channel's row
      for (var c = 0u; c < PV_CHANNEL_TILE; c++) {
        let d = lane + (jc * PV_CHANNEL_TILE + c) * THREADS_PER_ROW;
        v_descale[c] = v_scale[(kv_head * params.v_blocks + v_block) * HEAD_DIM + d];
        v_row[c] = d * PV_STRIDE;
      }
      if (PV_FP16) {
        var pv = array<array<f32, PV_CHANNEL_TILE>, ROWS_PER_THREAD>();
        for (var w = 0u; w < pv_word_count(); w++) {
          var p_pair: array<vec2<f32>, ROWS_PER_THREAD>;
          for (var i = 0u; i < ROWS_PER_THREAD; i++) {
            p_pair[i] = unpack2x16float(p_smem[(row0 + i) * PV_STRIDE + w]);
          }
          for (var c = 0u; c < PV_CHANNEL_TILE; c++) {
            let v_pair = unpack2x16float(v_smem[v_row[c] + w]);
            for (var i = 0u; i < ROWS_PER_THREAD; i++) {
              pv[i][c] += dot(p_pair[i], v_pair);
            }
          }
        }
        for (var c = 0u; c < PV_CHANNEL_TILE; c++) {
          for (var i = 0u; i < ROWS_PER_THREAD; i++) {
            let j = jc * PV_CHANNEL_TILE + c;
            o_acc[i][j] = o_acc[i][j] * alpha[i] + pv[i][c] * v_descale[c];
          }
        }
      } else {
        var pv = array<array<i32, PV_CHANNEL_TILE>, ROWS_PER_THREAD>();
        for (var w = 0u; w < pv_word_count(); w++) {
          var p_word: array<u32, ROWS_PER_THREAD>;
          for (var i = 0u; i < ROWS_PER_THREAD; i++) {
            p_word[i] = p_smem[(row0 + i) * PV_STRIDE + w];
          }
          for (var c = 0u; c < PV_CHANNEL_TILE; c++) {
            let v_word = v_smem[v_row[c] + w];
            for (var i = 0u; i < ROWS_PER_THREAD; i++) {
              if (P_CODES_U8) {
                // u8 P · s8 V through the unsigned product: flipping each V byte's top bit gives v + 128 ∈ [1, 255];
                // the 128 · ΣP̂ this adds is taken off once per tile below.
                pv[i][c] += dot4_u8(p_word[i], v_word ^ 0x80808080u);
              } else {
                pv[i][c] += dot4_i8(p_word[i], v_word);
              }
            }
          }
        }
        for (var c = 0u; c < PV_CHANNEL_TILE; c++) {
          for (var i = 0u; i < ROWS_PER_THREAD; i++) {
            let j = jc * PV_CHANNEL_TILE + c;
            var pv_exact = pv[i][c];
            if (P_CODES_U8) {
              pv_exact -= 128 * p_code_sum[i];
            }
            o_acc[i][j] = o_acc[i][j] * alpha[i] + f32(pv_exact) * (pv_descale[i] * v_descale[c]);
          }
        }
      }
    }
  }

  // The row sum is split over the THREADS_PER_ROW threads that computed its P: reduce it once, at the end.
  workgroupBarrier();
  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    row_partial[(row0 + i) * THREADS_PER_ROW + lane] = l_run[i];
  }
  workgroupBarrier();
  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    let query = q_start + row0 + i;
    if (query >= params.seq_q) {
      continue;
    }
    var l_total = 0.0;
    for (var t = 0u; t < THREADS_PER_ROW; t++) {
      l_total += row_partial[(row0 + i) * THREADS_PER_ROW + t];
    }
    // A row that sees no key (causal, seqQ > seqKV) has l = 0 and outputs zeros, like FlashAttention.
    let inv_l = select(0.0, 1.0 / l_total, l_total > 0.0);
    let has_keys = l_total > 0.0;
    for (var j = 0u; j < CHANNELS_PER_THREAD; j++) {
      let d = lane + j * THREADS_PER_ROW;
      let mean = select(0.0, v_mean[kv_head * HEAD_DIM + d], has_keys);
      out[(q_row_base + query) * HEAD_DIM + d] = to_out(o_acc[i][j] * inv_l + mean);
    }
  }
}
