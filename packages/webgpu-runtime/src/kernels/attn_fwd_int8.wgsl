// layout: q_codes u32[B,H,Sq,D/4] (4×int8) · q_scale f32[B,H,Sq] · k_codes u32[B,Hkv,Skv,D/4] · k_scale f32[B,Hkv,Skv] · v_codes u32[B,Hkv,D,vWords] (V transposed, int8×4 or f16×2 along keys) · v_scale f32[B,Hkv,vBlocks,D] · v_mean f32[B,Hkv,D] · out f32|f16[B,H,Sq,D]
// Quantized FlashAttention-2 forward, the skeleton of every variant (INT-FlashAttention, FlashQ + SAS). One workgroup
// = BLOCK_M queries of one (batch, head); key tiles of BLOCK_N. Scales are per row (per-block scales arrive repeated
// on each row of their block).
// Injected before this file (see attn-fwd-int8.ts): the schedule's constants HEAD_DIM, QK_WORDS, QK_STRIDE, BLOCK_M,
// BLOCK_N, ROWS_PER_THREAD, THREADS_PER_ROW, CHANNELS_PER_THREAD, KEY_GROUPS_PER_THREAD, PV_CHANNEL_TILE,
// WORKGROUP_SIZE, HEAVY_TILES_FIRST, PV_ELEMS, PV_WORDS, PV_STRIDE; the variant's PV_FP16, P_SCALE_ROWMAX, P_CODE_MAX,
// P_CODES_U8, SKIP_SPARSE_TILES, EXPONENT_MONOTONE and its exponent fn exponent2(x) / exponent2_is_zero(x);
// alias out_t, fn to_out(x: f32) -> out_t, fn dot4_i8 / dot4_u8, the loop bounds fn qk_word_count() /
// pv_word_count() (constants, or uniforms where the schedule keeps those loops rolled), and attn_common.wgsl.

struct Params {
  heads: u32,
  kv_heads: u32,
  seq_q: u32,
  seq_kv: u32,
  group_size: u32,
  causal: u32,
  causal_offset: i32, // seq_kv - seq_q: query i sees keys j <= i + causal_offset
  v_words: u32, // u32 words per transposed V row (ceil(seq_kv / PV_ELEMS))
  v_blocks: u32, // V scale blocks along keys (1 when one block spans the sequence)
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

const PV_CHANNEL_STEPS: u32 = CHANNELS_PER_THREAD / PV_CHANNEL_TILE;
const P_CODE_MAX_F: f32 = f32(P_CODE_MAX);

var<workgroup> q_smem: array<u32, BLOCK_M * QK_STRIDE>; // (BLOCK_M, QK_WORDS) + pad
var<workgroup> k_smem: array<u32, BLOCK_N * QK_STRIDE>; // (BLOCK_N, QK_WORDS) + pad
var<workgroup> k_scale_smem: array<f32, BLOCK_N>;
var<workgroup> v_smem: array<u32, HEAD_DIM * PV_STRIDE>; // (HEAD_DIM, PV_WORDS) + pad, keys packed along words
var<workgroup> p_smem: array<u32, BLOCK_M * PV_STRIDE>; // (BLOCK_M, PV_WORDS) + pad
var<workgroup> row_partial: array<f32, BLOCK_M * THREADS_PER_ROW>; // per-thread row max, then row sum
var<workgroup> tile_live: atomic<u32>; // SKIP_SPARSE_TILES: some row of the workgroup keeps a score of this tile

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
    last_key[i] = last_visible_key(query);
    q_descale[i] = select(0.0, q_scale[q_row_base + min(query, params.seq_q - 1u)] * params.sm_scale_log2, query < params.seq_q);
  }

  let kv_end = key_range_end(q_start);
  for (var kv_start = 0u; kv_start < kv_end; kv_start += BLOCK_N) {
    // Hazard: the previous tile's P·V still reads k/v/p_smem, and its skip test tile_live, until every thread passes
    // this barrier.
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
    if (SKIP_SPARSE_TILES && tid == 0u) {
      atomicStore(&tile_live, 0u);
    }
    workgroupBarrier();

    // S = Q̂·K̂ᵀ, INT32 accumulation. This thread: rows row0.., key groups lane, lane + THREADS_PER_ROW, ...
    // Explicit zero value: a bare `var` in a loop body may keep the previous iteration's contents on some drivers.
    var s_acc = array<array<i32, KEYS_PER_THREAD>, ROWS_PER_THREAD>();
    for (var w = 0u; w < qk_word_count(); w++) {
      var q_word = array<u32, ROWS_PER_THREAD>();
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

    // Online softmax in base 2: x = S · s_q · s_k · smScaleLog2. The row's tile max is reduced over its threads.
    var x = array<array<f32, KEYS_PER_THREAD>, ROWS_PER_THREAD>();
    var keeps_scores = false; // some row of this thread has a score the exponent does not zero against m_run
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
      // A row's tile max is the max of its threads' partial maxima: the row keeps a score iff one of them does. The
      // running max only grows, so a score zeroed against m_run would be zeroed against every later max too.
      keeps_scores = keeps_scores || (tile_max > NEG_BIG && !exponent2_is_zero(tile_max - m_run[i]));
    }
    if (SKIP_SPARSE_TILES) {
      if (keeps_scores) {
        atomicStore(&tile_live, 1u);
      }
      // All-zero tile skip: one workgroup-uniform decision (the load is also the barrier that publishes row_partial).
      // Exact: every P of the tile would be 0, m_run unchanged and alpha = exponent2(0) = 1.
      if (workgroupUniformLoad(&tile_live) == 0u) {
        continue;
      }
    } else {
      workgroupBarrier();
    }

    var alpha = array<f32, ROWS_PER_THREAD>(); // exponent2(m_old − m_new): rescale of the running o and l
    var pv_descale = array<f32, ROWS_PER_THREAD>(); // P̂ → P
    var p_max = array<f32, ROWS_PER_THREAD>(); // the row's largest P in the tile
    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      let tile_max = row_partial_max(row0 + i);
      let m_new = max(m_run[i], tile_max);
      alpha[i] = exponent2(m_run[i] - m_new);
      m_run[i] = m_new;
      // P = exponent2(x − m_new) ∈ [0, 1], in place of x; l sums these f32 probabilities (FlashAttention-2, the CPU
      // oracles), not the rounded P̂: rounding a tile's many tiny probabilities to 0 would bias the sum.
      var row_sum = 0.0;
      var thread_p_max = 0.0;
      for (var g = 0u; g < KEY_GROUPS_PER_THREAD; g++) {
        for (var e = 0u; e < 4u; e++) {
          // Masked keys hold NEG_BIG; test it rather than rely on exponent2(NEG_BIG − m_new) = 0, which fails for a
          // row that has seen no key (m_new = NEG_BIG too).
          let p = select(0.0, exponent2(x[i][g * 4u + e] - m_new), x[i][g * 4u + e] > NEG_BIG);
          x[i][g * 4u + e] = p;
          row_sum += p;
          thread_p_max = max(thread_p_max, p);
        }
      }
      l_run[i] = l_run[i] * alpha[i] + row_sum;
      p_max[i] = select(thread_p_max, exponent2(tile_max - m_new), EXPONENT_MONOTONE);
    }
    if (P_SCALE_ROWMAX && !PV_FP16 && !EXPONENT_MONOTONE) {
      // The exponent is not monotone: reduce the row's largest P over its threads, as the oracle takes the max.
      workgroupBarrier();
      for (var i = 0u; i < ROWS_PER_THREAD; i++) {
        row_partial[(row0 + i) * THREADS_PER_ROW + lane] = p_max[i];
      }
      workgroupBarrier();
      for (var i = 0u; i < ROWS_PER_THREAD; i++) {
        p_max[i] = row_partial_max(row0 + i);
      }
    }
    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      // 'rowmax': P̂ = round(P_CODE_MAX · P / p_max), so a tile far below the running max keeps every code step;
      // 'global': P̂ = round(P_CODE_MAX · P). p_max = 0 (a row masked or zeroed in this tile): every P is 0 too.
      var to_code = P_CODE_MAX_F;
      pv_descale[i] = 1.0 / P_CODE_MAX_F;
      if (P_SCALE_ROWMAX) {
        to_code = select(0.0, P_CODE_MAX_F / p_max[i], p_max[i] > 0.0);
        pv_descale[i] = p_max[i] / P_CODE_MAX_F;
      }
      if (PV_FP16) {
        pv_descale[i] = 1.0;
      }
      for (var g = 0u; g < KEY_GROUPS_PER_THREAD; g++) {
        let group = g * THREADS_PER_ROW + lane;
        if (group < KEY_GROUPS) {
          let p = vec4<f32>(x[i][g * 4u], x[i][g * 4u + 1u], x[i][g * 4u + 2u], x[i][g * 4u + 3u]);
          if (PV_FP16) {
            p_smem[(row0 + i) * PV_STRIDE + group * 2u] = pack2x16float(p.xy);
            p_smem[(row0 + i) * PV_STRIDE + group * 2u + 1u] = pack2x16float(p.zw);
          } else {
            // In [0, P_CODE_MAX] (min: guards a last-ulp excess of P over p_max): no sign bits to mask.
            let codes = vec4<u32>(min(round(p * to_code), vec4<f32>(P_CODE_MAX_F)));
            p_smem[(row0 + i) * PV_STRIDE + group] = codes.x | (codes.y << 8u) | (codes.z << 16u) | (codes.w << 24u);
          }
        }
      }
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
      var v_descale = array<f32, PV_CHANNEL_TILE>();
      var v_row = array<u32, PV_CHANNEL_TILE>(); // v_smem offset of each channel's row
      for (var c = 0u; c < PV_CHANNEL_TILE; c++) {
        let d = lane + (jc * PV_CHANNEL_TILE + c) * THREADS_PER_ROW;
        v_descale[c] = v_scale[(kv_head * params.v_blocks + v_block) * HEAD_DIM + d];
        v_row[c] = d * PV_STRIDE;
      }
      if (PV_FP16) {
        var pv = array<array<f32, PV_CHANNEL_TILE>, ROWS_PER_THREAD>();
        for (var w = 0u; w < pv_word_count(); w++) {
          var p_pair = array<vec2<f32>, ROWS_PER_THREAD>();
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
          var p_word = array<u32, ROWS_PER_THREAD>();
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

  publish_row_sums(row0, lane, l_run);
  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    let query = q_start + row0 + i;
    if (query >= params.seq_q) {
      continue;
    }
    let inv_l = inverse_row_sum(row0 + i);
    for (var j = 0u; j < CHANNELS_PER_THREAD; j++) {
      let d = lane + j * THREADS_PER_ROW;
      // V's mean (zeros unless V was smoothed) goes back in; a row that saw no key stays 0.
      let mean = select(0.0, v_mean[kv_head * HEAD_DIM + d], inv_l > 0.0);
      out[(q_row_base + query) * HEAD_DIM + d] = to_out(o_acc[i][j] * inv_l + mean);
    }
  }
}
