import type { PagePass, PoolBits } from '../decode-page-passes.js';
import { CHUNK_WGSL, type DecodeKernelConfig, SOFTMAX_WGSL, decodeHeader, decodeKernelKey } from './decode-common.wgsl.js';

/** The storage bindings of a page pass after the base three, in binding order: per bound K pool, then per V pool. */
export function pagePassPoolBindings(pass: PagePass): Array<{ tensor: 'k' | 'v'; bits: PoolBits; field: 'codes' | 'step' | 'zero' | 'scales' }> {
  const fields = (bits: PoolBits) => (bits === 8 ? (['codes', 'scales'] as const) : (['codes', 'step', 'zero', 'scales'] as const));
  return (['k', 'v'] as const).flatMap((tensor) => pass[tensor].flatMap((bits) => fields(bits).map((field) => ({ tensor, bits, field }))));
}

/**
 * The stored word holding codes [i, i + 4) of the current page (stored order), expanded to INT8 ×4: INT8 pages are
 * the word itself; INT4/INT2 pages give code·step + zero per code (kv-cache's decodePageInt8). `meta_index` is
 * the page's step/zero word of those four columns (K: channels, V: tokens — four consecutive ones, so one word).
 */
function pageWordFn(tensor: 'k' | 'v', widths: readonly PoolBits[], pageWords: (bits: PoolBits) => number): string {
  const branches = widths.map((bits) => {
    const pool = `${tensor}${bits}`;
    if (bits === 8) return `  if (page_${tensor}_bits == 8u) {\n    return ${pool}_codes[page_${tensor}_slot * ${pageWords(8)}u + i / 4u];\n  }`;
    return `  if (page_${tensor}_bits == ${bits}u) {
    let bit = i * ${bits}u;
    return expand_word(${pool}_codes[page_${tensor}_slot * ${pageWords(bits)}u + bit / 32u], bit % 32u, ${bits}u, ${pool}_step[meta_index], ${pool}_zero[meta_index]);
  }`;
  });
  return `fn ${tensor}_page_word(i: u32, meta_index: u32) -> u32 {
${branches.join('\n')}
  return 0u;
}`;
}

/** s of key t of the current page: the block scale of INT4/INT2 pages, the token's scale of INT8 pages. */
function pageScaleFn(tensor: 'k' | 'v', widths: readonly PoolBits[]): string {
  const branches = widths.map((bits) => {
    const pool = `${tensor}${bits}`;
    const index = bits === 8 ? `page_${tensor}_slot * PAGE_SIZE + t` : `page_${tensor}_slot`;
    return `  if (page_${tensor}_bits == ${bits}u) {\n    return ${pool}_scales[${index}];\n  }`;
  });
  return `fn ${tensor}_page_scale(t: u32) -> f32 {
${branches.join('\n')}
  return 0.0;
}`;
}

/**
 * decode_pages: one workgroup per (split, row tile · kv head, sequence), grid (maxSplits, kvHeads · rowTiles, batch).
 * Continues the split's state (split 0: from decode_q_sink; other splits start empty in the first page pass) over
 * the split's pages whose K and V widths this pass binds, in page order: each page's K decompressed to INT8 in
 * workgroup memory (KT keys at a time), its logits, the online softmax, P̂, then its V decompressed (DV channels at a
 * time) for P̂·V̂ (CHUNK_WGSL). Bindings (decode-page-passes.ts):
 *   tables i32 [lengths | K table | K widths | V table | V widths | …]   qprep u32 (read)   state f32 (read_write)
 *   per bound pool: codes u32 [slots, words], step/zero u32 [slots, meta/4] (u8/i8 ×4; INT4/INT2 only), scales f32
 */
export function decodePagesWgsl(config: DecodeKernelConfig, pass: PagePass, firstPass: boolean): string {
  const { headDim, pageSize } = config;
  const pageWords = (bits: PoolBits) => (pageSize * headDim * bits) / 32;
  const pools = pagePassPoolBindings(pass)
    .map(({ tensor, bits, field }, i) => `@group(0) @binding(${4 + i}) var<storage, read> ${tensor}${bits}_${field}: array<${field === 'scales' ? 'f32' : 'u32'}>;`)
    .join('\n');
  const inPass = (widths: readonly PoolBits[], name: string) => widths.map((bits) => `${name} == ${bits}u`).join(' || ');
  return `${decodeHeader(config, pageSize)}
const FIRST_PASS: bool = ${firstPass};
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tables: array<i32>;
@group(0) @binding(2) var<storage, read> qprep: array<u32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;
${pools}
${SOFTMAX_WGSL}
${CHUNK_WGSL}
var<private> page_k_bits: u32;
var<private> page_k_slot: u32;
var<private> page_v_bits: u32;
var<private> page_v_slot: u32;

fn expand_word(code_word: u32, first_bit: u32, bits: u32, step_word: u32, zero_word: u32) -> u32 {
  let mask = (1u << bits) - 1u;
  var out = 0u;
  for (var j = 0u; j < bound(4u); j++) {
    let code = i32((code_word >> (first_bit + j * bits)) & mask);
    let step = i32((step_word >> (8u * j)) & 0xffu);
    let zero = bitcast<i32>(zero_word << (24u - 8u * j)) >> 24u;
    out |= (bitcast<u32>(code * step + zero) & 0xffu) << (8u * j); // in [−128, 127]: compressProgressive's grid
  }
  return out;
}

${pageWordFn('k', pass.k, pageWords)}
${pageWordFn('v', pass.v, pageWords)}
${pageScaleFn('k', pass.k)}
${pageScaleFn('v', pass.v)}

// K pages are token-major [PAGE_SIZE, HEAD_DIM], step/zero per channel.
fn load_k_tile(tid: u32, key0: u32, n: u32) {
  let keys = min(KT, n - key0);
  for (var e = tid; e < keys * D_WORDS; e += WG) {
    let t = e / D_WORDS;
    let dw = e % D_WORDS;
    k_tile[t * K_STRIDE + dw] = k_page_word((key0 + t) * HEAD_DIM + dw * 4u, page_k_slot * D_WORDS + dw);
  }
}

// V pages are channel-major [HEAD_DIM, PAGE_SIZE], step/zero per token.
fn load_v_tile(tid: u32, d0: u32) {
  let channels = min(DV, HEAD_DIM - d0);
  for (var e = tid; e < channels * T_WORDS; e += WG) {
    let dl = e / T_WORDS;
    let tw = e % T_WORDS;
    v_tile[dl * V_STRIDE + tw] = v_page_word((d0 + dl) * PAGE_SIZE + tw * 4u, page_v_slot * T_WORDS + tw);
  }
}

fn page_in_pass(entry: u32) -> bool {
  let k_bits = u32(tables[params.k_bits + entry]);
  let v_bits = u32(tables[params.v_bits + entry]);
  return (${inPass(pass.k, 'k_bits')}) && (${inPass(pass.v, 'v_bits')});
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let split = wg.x;
  let b = wg.z;
  let g = wg.y / params.row_tiles;
  let row0 = tile_row0(wg.y % params.row_tiles);
  let rows = tile_rows(wg.y % params.row_tiles);
  if (rows == 0u) {
    return;
  }
  let length = length_of(b);
  if (split >= splits_of(length)) {
    return;
  }
  let group = b * params.kv_heads + g;
  let first_page = split * params.pages_per_split;
  let end_page = min(pages_of(length), first_page + params.pages_per_split);
  var matching = 0u;
  for (var p = first_page; p < end_page; p++) {
    if (page_in_pass(group * params.max_pages + p)) {
      matching++;
    }
  }
  // Splits after the first start empty in the first pass (which always writes their state); later passes only
  // touch splits holding pages of their widths.
  let fresh = FIRST_PASS && split > 0u;
  if (matching == 0u && !fresh) {
    return;
  }
  if (fresh) {
    clear_state(tid);
  } else {
    load_state(tid, group, split, row0, rows);
  }
  load_q(tid, group, row0, rows, length);
  for (var p = first_page; p < end_page; p++) {
    let entry = group * params.max_pages + p;
    if (!page_in_pass(entry)) {
      continue;
    }
    page_k_bits = u32(tables[params.k_bits + entry]);
    page_k_slot = u32(tables[params.k_table + entry]);
    page_v_bits = u32(tables[params.v_bits + entry]);
    page_v_slot = u32(tables[params.v_table + entry]);
    workgroupBarrier(); // the previous page is done with the scales
    for (var t = tid; t < PAGE_SIZE; t += WG) {
      k_scale_wg[t] = k_page_scale(t);
      v_scale_wg[t] = v_page_scale(t);
    }
    attend_chunk(tid, rows, PAGE_SIZE, SINK_TOKENS + p * PAGE_SIZE);
  }
  workgroupBarrier();
  store_state(tid, group, split, row0, rows);
}
`;
}

/** Pipeline key of {@link decodePagesWgsl}. */
export function decodePagesKey(config: DecodeKernelConfig, pass: PagePass, firstPass: boolean): string {
  return `qattn/decode_pages:${decodeKernelKey(config)}:k${pass.k.join('')}-v${pass.v.join('')}:${firstPass ? 'first' : 'next'}`;
}
