import type { KVCacheConfig, PageBits } from '../../options.js';
import { APPEND_PARAMS_WGSL, INT8_BYTE_WGSL, appendConstants } from './append-constants.js';

/**
 * page_write: one workgroup per (flush job, kv head) whose assigned width is this pipeline's `bits`; writes the page
 * into its slot of that pool in the stored order (K token-major `[pageSize, headDim]`, V channel-major
 * `[headDim, pageSize]`: V is transposed here).
 *   INT8        codes are the buffer rows' codes, scales the per-token scales (page-codec.ts `writeInt8Page`)
 *   INT4/INT2   quant-core's `compressProgressive` per column of the stored matrix: step = max(1, ⌈range / L⌉),
 *               zero = min(minimum, 127 − L·step), code = round-half-even((x − zero) / step) in exact integer
 *               arithmetic; INT2 takes the clipped grid of `compressInt2Clipped` (progressive-int2.ts) where its step
 *               ⌊σ + 1/2⌋ is smaller, codes clamped to [0, 3]; one block scale
 * Pool bindings: codes u32 [slots, wordsPerPage], step / zero u32 [slots, columns/4] (u8 / i8 ×4), scales f32.
 */
export function pageWriteWgsl(config: KVCacheConfig, pageMajor: 'token' | 'channel', bits: PageBits): string {
  const { pageSize, headDim } = config;
  const channelMajor = pageMajor === 'channel';
  return `${appendConstants(config, {
    BITS: bits,
    LEVELS: (1 << bits) - 1,
    CODES_PER_WORD: 32 / bits,
    WORDS_PER_PAGE: (pageSize * headDim * bits) / 32,
    CHANNEL_MAJOR: channelMajor,
    ROWS: channelMajor ? headDim : pageSize,
    COLS: channelMajor ? pageSize : headDim,
  })}
${APPEND_PARAMS_WGSL}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> job_state: array<u32>;
@group(0) @binding(2) var<storage, read> block_codes: array<u32>;
@group(0) @binding(3) var<storage, read_write> codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> step: array<u32>;
@group(0) @binding(5) var<storage, read_write> zero: array<u32>;
@group(0) @binding(6) var<storage, read_write> scales: array<f32>;

var<workgroup> assigned_bits: u32;
var<workgroup> column_step: array<i32, COLS>;
var<workgroup> column_zero: array<i32, COLS>;

${INT8_BYTE_WGSL}

// Element (row, col) of the stored matrix of block (job, head) as an INT8 code.
fn stored(block: u32, row: u32, col: u32) -> i32 {
  var t = row;
  var d = col;
  if (CHANNEL_MAJOR) {
    t = col;
    d = row;
  }
  return int8_byte(block_codes[block + t * HEAD_WORDS + d / 4u], d % 4u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y;
  for (var j = wid.x; j < params.jobs; j += groups.x) {
    let state = (j * KV_HEADS + g) * STATE_WORDS;
    if (lid == 0u) {
      assigned_bits = job_state[state + 3u];
    }
    if (workgroupUniformLoad(&assigned_bits) != BITS) {
      continue;
    }
    let slot = job_state[state + 2u];
    let block = (j * KV_HEADS + g) * PAGE_SIZE * HEAD_WORDS;
    if (BITS == 8u) {
      for (var w = lid; w < WORDS_PER_PAGE; w += WG) {
        var word = 0u;
        for (var e = 0u; e < 4u; e++) {
          let i = w * 4u + e;
          word |= (bitcast<u32>(stored(block, i / COLS, i % COLS)) & 0xffu) << (8u * e);
        }
        codes[slot * WORDS_PER_PAGE + w] = word;
      }
      for (var r = lid; r < PAGE_SIZE; r += WG) {
        scales[slot * PAGE_SIZE + r] = bitcast<f32>(job_state[state + STATE_HEADER_WORDS + r]);
      }
    } else {
      for (var c = lid; c < COLS; c += WG) {
        var low = 127;
        var high = -127;
        for (var r = 0u; r < ROWS; r++) {
          let x = stored(block, r, c);
          low = min(low, x);
          high = max(high, x);
        }
        let size = max(1, (high - low + i32(LEVELS) - 1) / i32(LEVELS));
        column_step[c] = size;
        column_zero[c] = min(low, 127 - i32(LEVELS) * size); // the grid ends at 127 where it would pass it
        if (BITS == 2u) {
          // compressInt2Clipped: a step of ⌊σ + 1/2⌋ centred on the mean where it is below the min/max step.
          var sum = 0;
          var sum_squares = 0;
          for (var r = 0u; r < ROWS; r++) {
            let x = stored(block, r, c);
            sum += x;
            sum_squares += x * x;
          }
          let n = i32(ROWS);
          let a = abs(sum);
          let quotient = a / n;
          let rest = a - quotient * n;
          let four_n_variance = 4 * sum_squares - (4 * a * quotient + (4 * a * rest + n - 1) / n);
          var sigma_step = 0;
          while (sigma_step < size && (2 * sigma_step + 1) * (2 * sigma_step + 1) * n <= four_n_variance) {
            sigma_step += 1;
          }
          sigma_step = max(1, sigma_step);
          if (sigma_step < size) {
            let numerator = 2 * sum - i32(LEVELS) * sigma_step * n + n;
            var centred = numerator / (2 * n);
            if (numerator < 0 && centred * 2 * n != numerator) {
              centred -= 1; // floor, not truncation
            }
            column_step[c] = sigma_step;
            column_zero[c] = min(max(centred, -128), 127 - i32(LEVELS) * sigma_step);
          }
        }
      }
      workgroupBarrier();
      for (var m = lid; m < COLS / 4u; m += WG) {
        var step_word = 0u;
        var zero_word = 0u;
        for (var e = 0u; e < 4u; e++) {
          step_word |= bitcast<u32>(column_step[m * 4u + e]) << (8u * e);
          zero_word |= (bitcast<u32>(column_zero[m * 4u + e]) & 0xffu) << (8u * e);
        }
        step[slot * (COLS / 4u) + m] = step_word;
        zero[slot * (COLS / 4u) + m] = zero_word;
      }
      for (var w = lid; w < WORDS_PER_PAGE; w += WG) {
        var word = 0u;
        for (var e = 0u; e < CODES_PER_WORD; e++) {
          let i = w * CODES_PER_WORD + e;
          let col = i % COLS;
          let offset = stored(block, i / COLS, col) - column_zero[col];
          let size = column_step[col];
          var code = offset / size;
          let twice_rest = 2 * (offset - code * size);
          // Round half to even, in integers.
          if (twice_rest > size || (twice_rest == size && (code & 1) == 1)) {
            code += 1;
          }
          code = clamp(code, 0, i32(LEVELS)); // a clipped INT2 column's tails; a no-op for min/max grids
          word |= bitcast<u32>(code) << (e * BITS);
        }
        codes[slot * WORDS_PER_PAGE + w] = word;
      }
      if (lid == 0u) {
        scales[slot] = bitcast<f32>(job_state[state]);
      }
      workgroupBarrier();
    }
  }
}
`;
}
