import { QattnError } from './errors.js';
import type { ProgressiveBits } from './progressive.js';

/**
 * TurboAttention's head priority of one head's values: gap × standard deviation, where gap = max − min.
 *
 * Both factors grow with how hard the head is to quantize coarsely: the gap sets the step of a low-bit grid, the
 * standard deviation how much of the head's signal lives away from its mean (a head whose values sit in a narrow band
 * loses little at 2 bits). Computed in float64 over `values[offset, offset + length)`; population standard deviation
 * (÷ length), two-pass so constant heads give exactly 0.
 */
export function headPriority(values: ArrayLike<number>, offset = 0, length = values.length - offset): number {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length <= 0 || offset + length > values.length) {
    throw new QattnError('ERR_QATTN_SHAPE', `headPriority: range [${offset}, ${offset + length}) is empty or outside ${values.length} values`);
  }
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = offset; i < offset + length; i++) {
    const x = values[i];
    if (x - x !== 0) {
      throw new QattnError('ERR_QATTN_NONFINITE', `headPriority: values[${i}] is ${x}: inputs must be finite`, { index: i, value: x });
    }
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  const mean = sum / length;
  let squares = 0;
  for (let i = offset; i < offset + length; i++) squares += (values[i] - mean) ** 2;
  return (max - min) * Math.sqrt(squares / length);
}

/**
 * Priorities of every head of `values` viewed as `[heads, elementsPerHead]` (for a KV block: elementsPerHead =
 * tokens · headDim of one head). Returns a Float64Array `[heads]`.
 */
export function headPriorities(values: ArrayLike<number>, heads: number): Float64Array {
  if (!Number.isInteger(heads) || heads <= 0 || values.length % heads !== 0 || values.length === 0) {
    throw new QattnError('ERR_QATTN_SHAPE', `headPriorities: ${values.length} values do not split into ${String(heads)} equal non-empty heads`, {
      heads,
      length: values.length,
    });
  }
  const perHead = values.length / heads;
  const out = new Float64Array(heads);
  for (let h = 0; h < heads; h++) out[h] = headPriority(values, h * perHead, perHead);
  return out;
}

/**
 * Head-wise mixed precision: gives 2 bits to the ⌊lowBitFraction · heads⌋ heads of lowest priority and 4 bits to the
 * rest. Rounding down means the 2-bit share never exceeds the fraction asked for (accuracy wins ties with memory).
 * Ties in priority are broken by head index, lower index first, so the allocation is deterministic.
 *
 * @param priorities one finite priority per head (e.g. from {@link headPriorities})
 * @param lowBitFraction share of heads stored at 2 bits, in [0, 1]
 * @returns bits per head (a {@link ProgressiveBits} each: 2 or 4), `[heads]`
 */
export function allocateHeadBits(priorities: ArrayLike<number>, lowBitFraction: number): Uint8Array {
  if (typeof lowBitFraction !== 'number' || !(lowBitFraction >= 0 && lowBitFraction <= 1)) {
    throw new QattnError('ERR_QATTN_OPTION', `lowBitFraction must be a number in [0, 1], got ${String(lowBitFraction)}`, {
      option: 'lowBitFraction',
      value: lowBitFraction,
    });
  }
  const heads = priorities.length;
  for (let h = 0; h < heads; h++) {
    const p = priorities[h];
    if (typeof p !== 'number' || p - p !== 0) {
      throw new QattnError('ERR_QATTN_NONFINITE', `allocateHeadBits: priorities[${h}] is ${String(p)}: priorities must be finite`, { index: h });
    }
  }
  // The 1e−9 guard keeps e.g. 0.29 · 100 = 28.999999999999996 from losing a head to float rounding.
  const lowBitHeads = Math.min(heads, Math.floor(lowBitFraction * heads + 1e-9));
  const order = Array.from({ length: heads }, (_, h) => h).sort((a, b) => priorities[a] - priorities[b] || a - b);
  const bits = new Uint8Array(heads).fill(4);
  for (let rank = 0; rank < lowBitHeads; rank++) bits[order[rank]] = 2;
  return bits;
}
