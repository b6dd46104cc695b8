import type { PagePass, PoolBits } from '../decode-page-passes.js';
import { CHUNK_WGSL, type DecodeKernelConfig, SOFTMAX_WGSL, decodeHeader, decodeKernelKey } from './decode-common.wgsl.js';

/** The storage bindings of a page pass after the base three, in binding order: per bound K pool, then per V pool. */
export function pagePassPoolBindings(pass: PagePass): Array<{ tensor: 'k' | 'v'; bits: PoolBits; field: 'codes' | 'step' | 'zero' | 'scales' }> {
  const fields = (bits: PoolBits) => (bits === 8 ? (['codes', 'scales'] as const) : (['codes', 'step', 'zero', 'scales'] as const));
  return (['k', 'v'] as const).flatMap((tensor) => pass[tensor].flatMap((bits) => fields(bits).map((field) => ({ tensor, bits, field }))));
}

/**
 * How a stored row of `elements` codes at `bits` is read: in 32-bit words (a K row starts at bit t·HEAD_DIM·bits, so a
 * row is word-aligned unless HEAD_DIM·bits is not a multiple of 32; V rows, PAGE_SIZE codes, always are), and each
 * word into `groups` words of four codes one byte apart — (word >> bits·s) & mask — that dot4 takes as they are. Code
 * k of group s of word w is element w·(32/bits) + s + k·(8/bits): the order the operands are packed in.
 */
interface RowLayout {
  bits: PoolBits;
  /** Words of one row (the last one part-filled when the row is not aligned). */
  words: number;
  /** Groups of four codes per word: 8 / bits. */
  groups: number;
  aligned: boolean;
}

function rowLayout(bits: PoolBits, elements: number): RowLayout {
  return { bits, words: Math.ceil((elements * bits) / 32), groups: 8 / bits, aligned: (elements * bits) % 32 === 0 };
}

const GROUP_MASK: Record<PoolBits, string> = { 8: '', 4: ' & 0x0f0f0f0fu', 2: ' & 0x03030303u' };

/** Group s of `word` as dot4 takes it (INT8: the word itself). */
function groupOf(layout: RowLayout, word: string, s: number): string {
  if (layout.bits === 8) return word;
  return s === 0 ? `(${word}${GROUP_MASK[layout.bits]})` : `((${word} >> ${layout.bits * s}u)${GROUP_MASK[layout.bits]})`;
}

/**
 * WGSL of a row's dot products against folded operands: for each word of the row, each group against the lo and hi
 * operand of the four rows (`ops[o + 2s]`, `ops[o + 2s + 1]`). `loadWord` gives word w of the row (an expression in
 * `w`). INT8 rows have one operand per word (no hi part).
 */
function rowDotLoop(layout: RowLayout, loadWord: string, ops: string, opBase: string): string {
  const lines: string[] = [];
  for (let s = 0; s < layout.groups; s++) {
    const group = groupOf(layout, 'word', s);
    if (layout.bits === 8) lines.push(`      lo += dot4_rows(word, ${ops}[o]);`);
    else lines.push(`      lo += dot4_rows(${group}, ${ops}[o + ${2 * s}u]);`, `      hi += dot4_rows(${group}, ${ops}[o + ${2 * s + 1}u]);`);
  }
  return `    for (var w = 0u; w < bound(${layout.words}u); w++) {
      let word = ${loadWord};
      let o = ${opBase};
${lines.join('\n')}
    }`;
}

/**
 * k_dot_keys: q̂·k̂ of the invocation's keys t = tid + k·WG (k < KPL; token-major K pages [PAGE_SIZE, HEAD_DIM]) for
 * rows 4b..4b+3, by the page's width. INT8: the codes against q̂ (q_ops). INT4/INT2: the raw codes against q̂·step
 * (k_ops, folded by fold_k); k_zero adds Σ q̂·zero. The keys are unrolled so that each operand word is loaded from
 * workgroup memory once for all of them (KPL = 4 at 16 invocations and 64-token pages) instead of once per key.
 * Keys past the page read its last row (their logits are masked).
 */
function kDotKeysFn(widths: readonly PoolBits[], headDim: number, pageSize: number, kGroups: number, keysPerLane: number): string {
  const keys = Array.from({ length: keysPerLane }, (_, k) => k);
  const branches = widths.map((bits) => {
    const layout = rowLayout(bits, headDim);
    const pageWords = (pageSize * headDim * bits) / 32;
    const rowStart = keys.map((k) => {
      const t = `min(tid + ${k}u * WG, PAGE_SIZE - 1u)`;
      if (layout.aligned) return `    let base${k} = page_k_slot * ${pageWords}u + ${t} * ${layout.words}u;`;
      return `    let first_bit${k} = ${t} * ${headDim * bits}u;\n    let base${k} = page_k_slot * ${pageWords}u + first_bit${k} / 32u;\n    let shift${k} = first_bit${k} % 32u;`;
    });
    const codes = `k${bits}_codes`;
    // A row that is not word-aligned starts `shift` bits into its first word: its words are funnel-shifted pairs.
    const load = (k: number) =>
      layout.aligned ? `${codes}[base${k} + w]` : `(${codes}[base${k} + w] >> shift${k}) | select(0u, ${codes}[base${k} + w + 1u] << (32u - shift${k}), shift${k} != 0u)`;
    const lines: string[] = keys.map((k) => `      let word${k} = ${load(k)};`);
    if (bits === 8) {
      lines.push(`      let op = q_ops[b * D_WORDS + w];`, ...keys.map((k) => `      lo${k} += dot4_rows(word${k}, op);`));
    } else {
      lines.push(`      let o = (b * ${kGroups}u + w * ${layout.groups}u) * 2u;`);
      for (let s = 0; s < layout.groups; s++) {
        lines.push(`      let op_lo${s} = k_ops[o + ${2 * s}u];`, `      let op_hi${s} = k_ops[o + ${2 * s + 1}u];`);
        for (const k of keys) {
          const group = groupOf(layout, `word${k}`, s);
          lines.push(`      lo${k} += dot4_rows(${group}, op_lo${s});`, `      hi${k} += dot4_rows(${group}, op_hi${s});`);
        }
      }
    }
    return `  if (page_k_bits == ${bits}u) {
${rowStart.join('\n')}
    for (var w = 0u; w < bound(${layout.words}u); w++) {
${lines.join('\n')}
    }
  }`;
  });
  return `fn k_dot_keys(tid: u32, b: u32, n: u32) -> array<vec4<i32>, KPL> {
${keys.map((k) => `  var lo${k} = vec4<i32>(0);\n  var hi${k} = vec4<i32>(0);`).join('\n')}
${branches.join('\n')}
  return array<vec4<i32>, KPL>(${keys.map((k) => `lo${k} + 128 * hi${k}`).join(', ')});
}`;
}

/** v_dot: P̂·v̂ of channel d (channel-major V pages [HEAD_DIM, PAGE_SIZE]) for rows 4b..4b+3 against v_ops (pack_v). */
function vDotFn(widths: readonly PoolBits[], headDim: number, pageSize: number): string {
  const branches = widths.map((bits) => {
    const layout = rowLayout(bits, pageSize);
    const pageWords = (pageSize * headDim * bits) / 32;
    const opBase = bits === 8 ? '(b * T_WORDS + w) * 2u' : `(b * T_WORDS + w * ${layout.groups}u) * 2u`;
    return `  if (page_v_bits == ${bits}u) {
    let base = page_v_slot * ${pageWords}u + d * ${layout.words}u;
${rowDotLoop(layout, `v${bits}_codes[base + w]`, 'v_ops', opBase)}
  }`;
  });
  return `fn v_dot(d: u32, b: u32, n: u32) -> vec4<i32> {
  var lo = vec4<i32>(0);
  var hi = vec4<i32>(0);
${branches.join('\n')}
  return lo + 128 * hi;
}`;
}

/**
 * fold_k: for INT4/INT2 K pages, the operands q̂·step of each group of four channels (the element order of
 * rowLayout) split into lo and hi bytes, four rows to a vec4, with Σ q̂·zero into k_zero.
 */
function foldKFn(widths: readonly PoolBits[], headDim: number, kGroups: number): string {
  const branches = widths
    .filter((bits) => bits !== 8)
    .map((bits) => {
      const layout = rowLayout(bits, headDim);
      const groups = layout.words * layout.groups;
      return `  if (page_k_bits == ${bits}u) {
    for (var e = tid; e < blocks * ${groups}u; e += WG) {
      let b = e / ${groups}u;
      let g = e % ${groups}u;
      var lo = vec4<u32>(0u);
      var hi = vec4<u32>(0u);
      var zero_term = vec4<i32>(0);
      for (var k = 0u; k < 4u; k++) {
        let c = (g / ${layout.groups}u) * ${32 / bits}u + g % ${layout.groups}u + k * ${layout.groups}u;
        if (c < HEAD_DIM) {
          let column = page_k_slot * D_WORDS + c / 4u;
          let step = byte_u8(k${bits}_step[column], c % 4u);
          let zero = byte_i8(k${bits}_zero[column], c % 4u);
          let codes = bitcast<vec4<i32>>(q_ops[b * D_WORDS + c / 4u] << vec4<u32>(24u - 8u * (c % 4u))) >> vec4<u32>(24u);
          let folded = codes * step;
          lo |= lo_bytes(folded, k);
          hi |= hi_bytes(folded, k);
          zero_term += codes * zero;
        }
      }
      k_ops[2u * (b * ${kGroups}u + g)] = lo;
      k_ops[2u * (b * ${kGroups}u + g) + 1u] = hi;
      for (var i = 0u; i < 4u; i++) {
        if (zero_term[i] != 0) {
          atomicAdd(&k_zero[4u * b + i], zero_term[i]);
        }
      }
    }
  }`;
    });
  return `fn fold_k(tid: u32, rows: u32) {
  let blocks = (rows + 3u) / 4u;
${branches.join('\n')}
}`;
}

/**
 * pack_v: P̂ (p_pack) into v_ops — INT8 V pages: P̂ of four consecutive tokens per word; INT4/INT2: P̂·step of each
 * group of four tokens (rowLayout's order) split into lo and hi bytes, with Σ P̂·zero into v_zero.
 */
function packVFn(widths: readonly PoolBits[], pageSize: number): string {
  const branches = widths.map((bits) => {
    const layout = rowLayout(bits, pageSize);
    if (bits === 8) {
      return `  if (page_v_bits == 8u) {
    for (var e = tid; e < blocks * T_WORDS; e += WG) {
      let b = e / T_WORDS;
      let t0 = 4u * (e % T_WORDS);
      var codes = vec4<u32>(0u);
      for (var k = 0u; k < 4u; k++) {
        codes |= p_codes(b, t0 + k) << vec4<u32>(8u * k);
      }
      v_ops[2u * e] = codes;
    }
  }`;
    }
    return `  if (page_v_bits == ${bits}u) {
    for (var e = tid; e < blocks * T_WORDS; e += WG) {
      let b = e / T_WORDS;
      let g = e % T_WORDS;
      var lo = vec4<u32>(0u);
      var hi = vec4<u32>(0u);
      var zero_term = vec4<i32>(0);
      for (var k = 0u; k < 4u; k++) {
        let t = (g / ${layout.groups}u) * ${32 / bits}u + g % ${layout.groups}u + k * ${layout.groups}u;
        let column = page_v_slot * T_WORDS + t / 4u;
        let step = byte_u8(v${bits}_step[column], t % 4u);
        let zero = byte_i8(v${bits}_zero[column], t % 4u);
        let codes = vec4<i32>(p_codes(b, t));
        let folded = codes * step;
        lo |= lo_bytes(folded, k);
        hi |= hi_bytes(folded, k);
        zero_term += codes * zero;
      }
      v_ops[2u * e] = lo;
      v_ops[2u * e + 1u] = hi;
      for (var i = 0u; i < 4u; i++) {
        if (zero_term[i] != 0) {
          atomicAdd(&v_zero[4u * b + i], zero_term[i]);
        }
      }
    }
  }`;
  });
  return `fn pack_v(tid: u32, rows: u32, n: u32) {
  let blocks = (rows + 3u) / 4u;
${branches.join('\n')}
}`;
}

/** s of key t of the current page: the block scale of INT4/INT2 pages, the token's scale of INT8 pages. */
function scaleFn(tensor: 'k' | 'v', widths: readonly PoolBits[]): string {
  const branches = widths.map((bits) => {
    const pool = `${tensor}${bits}`;
    const index = bits === 8 ? `page_${tensor}_slot * PAGE_SIZE + t` : `page_${tensor}_slot`;
    return `  if (page_${tensor}_bits == ${bits}u) {\n    return ${pool}_scales[${index}];\n  }`;
  });
  return `fn ${tensor}_scale_of(t: u32) -> f32 {
${branches.join('\n')}
  return 0.0;
}`;
}

/** Operand groups of a K row at each low-bit width of the pass (the largest sizes k_ops). */
function kOperandGroups(widths: readonly PoolBits[], headDim: number): number {
  return Math.max(1, ...widths.filter((bits) => bits !== 8).map((bits) => rowLayout(bits, headDim).words * (8 / bits)));
}

/**
 * decode_pages: one workgroup per (split, row tile · kv head, sequence), grid (maxSplits, kvHeads · rowTiles, batch).
 * Continues the split's state (split 0: from decode_q_sink; other splits start empty in the first page pass) over
 * the split's pages whose K and V widths this pass binds, in page order, reading each page's codes where they are
 * (CHUNK_WGSL: INT4/INT2 step and zero folded into the operands, no decompression). Bindings (decode-page-passes.ts):
 *   tables i32 [lengths | K table | K widths | V table | V widths | …]   qprep u32 (read)   state f32 (read_write)
 *   per bound pool: codes u32 [slots, words], step/zero u32 [slots, meta/4] (u8/i8 ×4; INT4/INT2 only), scales f32
 */
export function decodePagesWgsl(config: DecodeKernelConfig, pass: PagePass, firstPass: boolean): string {
  const { headDim, pageSize } = config;
  const kGroups = kOperandGroups(pass.k, headDim);
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
var<workgroup> k_ops: array<vec4<u32>, RB * ${2 * kGroups}>; // (RB, groups, lo/hi) q̂·step of INT4/INT2 K pages
var<workgroup> v_ops: array<vec4<u32>, RB * T_WORDS * 2>; // (RB, T_WORDS, lo/hi) P̂ (INT8) or P̂·step (INT4/INT2)
var<private> page_k_bits: u32;
var<private> page_k_slot: u32;
var<private> page_v_bits: u32;
var<private> page_v_slot: u32;

${scaleFn('k', pass.k)}
${scaleFn('v', pass.v)}
${foldKFn(pass.k, headDim, kGroups)}
${kDotKeysFn(pass.k, headDim, pageSize, kGroups, Math.ceil(pageSize / config.tiles.workgroupSize))}
${packVFn(pass.v, pageSize)}
${vDotFn(pass.v, headDim, pageSize)}

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
  workgroupBarrier();
  for (var p = first_page; p < end_page; p++) {
    let entry = group * params.max_pages + p;
    if (!page_in_pass(entry)) {
      continue;
    }
    page_k_bits = u32(tables[params.k_bits + entry]);
    page_k_slot = u32(tables[params.k_table + entry]);
    page_v_bits = u32(tables[params.v_bits + entry]);
    page_v_slot = u32(tables[params.v_table + entry]);
    attend_chunk(tid, rows, PAGE_SIZE, SINK_TOKENS + p * PAGE_SIZE);
  }
  store_state(tid, group, split, row0, rows);
}
`;
}

/** Pipeline key of {@link decodePagesWgsl}. */
export function decodePagesKey(config: DecodeKernelConfig, pass: PagePass, firstPass: boolean): string {
  return `qattn/decode_pages:${decodeKernelKey(config)}:k${pass.k.join('')}-v${pass.v.join('')}:${firstPass ? 'first' : 'next'}`;
}
