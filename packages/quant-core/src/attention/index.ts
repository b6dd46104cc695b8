// The shared CPU skeleton of quantized attention (docs/KERNELS.md): one tile loop, its schedule, GEMMs and P·V stages,
// driven by a variant record. The kernel packages quantize their operands and map their options to the variant; the
// GEMMs and P·V stages stay internal.
export { type AttentionTileParams, type AttentionVariant, type CpuAttentionVariant, type PvPrecision, type TileStats, checkAttentionVariant } from './variant.js';
export { type KeyTilePlan, planKeyTiles, tileCount } from './key-tile-schedule.js';
export {
  type Fp16V,
  type Fp8V,
  type Int8Rows,
  type Int8TileV,
  type QuantizedAttentionOperands,
  quantizeRowsInt8,
  quantizeVFp8Channels,
  quantizeVInt8Tiles,
  roundVFp16,
} from './operands.js';
export { FP8_P_SCALE } from './pv-fp8.js';
export { assertInt32Accumulation, attnFwdQuantizedCpu } from './attn-fwd-quantized-cpu.js';
