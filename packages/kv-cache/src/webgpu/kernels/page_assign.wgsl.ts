import type { KVCacheConfig } from '../../options.js';
import { APPEND_PARAMS_WGSL, appendConstants } from './append-constants.js';

/**
 * page_assign: one invocation per flush job. Gives each kv head of the page a slot the host reserved for it (the job
 * table lists kvHeads slots: the 4-bit or 8-bit ones first, then `LOW_HEADS` 2-bit ones): the LOW_HEADS heads of
 * lowest priority, ties by head index (quant-core's `allocateHeadBits`), take the 2-bit slots, the others the wide slots,
 * each in head order as the CPU cache allocates them (so the pools' bytes match the CPU's). Writes the slot and width into job_state and the cache's page tables
 * (`page_table` i32 / `page_bits` u32 `[batch, kvHeads, maxPages]`).
 */
export function pageAssignWgsl(config: KVCacheConfig, lowHeads: number): string {
  return `${appendConstants(config, { LOW_HEADS: lowHeads, WIDE_BITS: config.bits === 8 ? 8 : 4 })}
${APPEND_PARAMS_WGSL}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> jobs: array<u32>;
@group(0) @binding(2) var<storage, read_write> job_state: array<u32>;
@group(0) @binding(3) var<storage, read_write> page_table: array<i32>;
@group(0) @binding(4) var<storage, read_write> page_bits: array<u32>;

fn priority(j: u32, g: u32) -> f32 {
  return bitcast<f32>(job_state[(j * KV_HEADS + g) * STATE_WORDS + 1u]);
}

// Rank of head g among the page's heads by (priority, head index), ascending.
fn rank_of(j: u32, g: u32) -> u32 {
  let mine = priority(j, g);
  var rank = 0u;
  for (var h = 0u; h < KV_HEADS; h++) {
    let other = priority(j, h);
    if (other < mine || (other == mine && h < g)) {
      rank++;
    }
  }
  return rank;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= params.jobs) {
    return;
  }
  let job = j * JOB_WORDS;
  let b = jobs[job];
  let page = jobs[job + 1u];
  var wide = 0u;
  var narrow = 0u;
  for (var g = 0u; g < KV_HEADS; g++) {
    var slot = 0u;
    var bits = WIDE_BITS;
    let rank = select(KV_HEADS, rank_of(j, g), LOW_HEADS > 0u);
    if (rank < LOW_HEADS) {
      slot = jobs[job + JOB_HEADER_WORDS + (KV_HEADS - LOW_HEADS) + narrow];
      narrow++;
      bits = 2u;
    } else {
      slot = jobs[job + JOB_HEADER_WORDS + wide];
      wide++;
    }
    let state = (j * KV_HEADS + g) * STATE_WORDS;
    job_state[state + 2u] = slot;
    job_state[state + 3u] = bits;
    let entry = (b * KV_HEADS + g) * params.max_pages + page;
    page_table[entry] = i32(slot);
    page_bits[entry] = bits;
  }
}
`;
}
