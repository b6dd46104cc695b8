// Shared by attn_fwd_int8.wgsl and attn_fwd_float.wgsl: causal key ranges, row reductions over a row's threads, and
// the epilogue's row sums. Expects of the module it is joined to: `params` with seq_q, seq_kv, causal, causal_offset;
// `var<workgroup> row_partial: array<f32, BLOCK_M * THREADS_PER_ROW>`; constants BLOCK_M, BLOCK_N, ROWS_PER_THREAD,
// THREADS_PER_ROW, KEY_GROUPS_PER_THREAD.

const KEYS_PER_THREAD: u32 = KEY_GROUPS_PER_THREAD * 4u;
const KEY_GROUPS: u32 = BLOCK_N / 4u;
// WGSL implementations may assume no infinities, so "no score yet" is a large finite negative number and masked
// entries are tracked by predicate, never by -inf arithmetic.
const NEG_BIG: f32 = -1.0e30;

// The last key `query` sees (bottom-right aligned causal mask), or -1 for a padding row past seq_q.
fn last_visible_key(query: u32) -> i32 {
  if (query >= params.seq_q) {
    return -1;
  }
  var last = i32(params.seq_kv) - 1;
  if (params.causal != 0u) {
    last = min(last, i32(query) + params.causal_offset);
  }
  return last;
}

// End of the keys a query tile visits: keys past its last query's last visible key are never loaded (causal tiles
// above the diagonal).
fn key_range_end(q_start: u32) -> u32 {
  if (params.causal == 0u) {
    return params.seq_kv;
  }
  let last_query = min(q_start + BLOCK_M, params.seq_q) - 1u;
  return u32(clamp(i32(last_query) + params.causal_offset + 1, 0, i32(params.seq_kv)));
}

// Max over the THREADS_PER_ROW partials of `row` in row_partial.
fn row_partial_max(row: u32) -> f32 {
  var m = NEG_BIG;
  for (var t = 0u; t < THREADS_PER_ROW; t++) {
    m = max(m, row_partial[row * THREADS_PER_ROW + t]);
  }
  return m;
}

// 1 / l of `row` from the THREADS_PER_ROW partial sums in row_partial; 0 for a row that saw no key (causal with
// seqQ > seqKV), which then outputs zeros, like FlashAttention.
fn inverse_row_sum(row: u32) -> f32 {
  var l_total = 0.0;
  for (var t = 0u; t < THREADS_PER_ROW; t++) {
    l_total += row_partial[row * THREADS_PER_ROW + t];
  }
  return select(0.0, 1.0 / l_total, l_total > 0.0);
}

// Epilogue: the row sum l is split over the THREADS_PER_ROW threads that computed its P; publish this thread's shares
// for inverse_row_sum. Call from uniform control flow, after the last key tile.
fn publish_row_sums(row0: u32, lane: u32, l_run: array<f32, ROWS_PER_THREAD>) {
  // Hazard: the last tile's readers of row_partial must be done before it is overwritten.
  workgroupBarrier();
  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    row_partial[(row0 + i) * THREADS_PER_ROW + lane] = l_run[i];
  }
  workgroupBarrier();
}
