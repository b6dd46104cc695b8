import { QattnError } from '@qattn/quant-core';

/** Page widths of a cache's pools. */
export type PoolBits = 8 | 4 | 2;

/** One dispatch of the page pass: the pools it binds; it attends to the pages whose K and V widths are both bound. */
export interface PagePass {
  k: PoolBits[];
  v: PoolBits[];
}

/** Storage bindings of the page pass besides the pools: the metadata copy, the prepared q, the split states. */
export const PAGE_PASS_BASE_BINDINGS = 3;

/** Storage bindings of one pool: codes and scales, plus the integer step and zero of INT4/INT2 pools. */
export function poolBindings(bits: PoolBits): number {
  return bits === 8 ? 2 : 4;
}

/** Storage bindings of a page pass. */
export function pagePassBindings(pass: PagePass): number {
  return PAGE_PASS_BASE_BINDINGS + [...pass.k, ...pass.v].reduce((sum, bits) => sum + poolBindings(bits), 0);
}

/**
 * How the pages are cut into dispatches (pure). The cache keeps each page width in its own pool of four buffers
 * (codes, step, zero, scales), so a pass that can read every page binds 3 + 4 per pool; WebGPU caps storage bindings
 * per shader stage (`maxStorageBuffersPerShaderStage`: 16 on lavapipe and on the H200 through Dawn, 8 by default).
 *
 * - Every pool fits: one pass; each split walks its pages in order, as the CPU oracle does (bit-for-bit the same
 *   chunk order). INT4: 11 bindings, INT8: 7, INT4 K with INT4/INT2 V (`lowBitFraction: { k: 0, v: 0.75 }`): 15.
 * - Otherwise one pass per K width with every V width, else one per (K, V) width pair. Each pass continues the
 *   split's online-softmax state where the previous left it, so a split attends to its pages grouped by width
 *   (in order within a group): the same keys in another chunk order, which moves the result by rounding only
 *   (SAS's sparse skip and P's codes see other running maxima). The paper's half-and-half mix (`lowBitFraction: 0.5`,
 *   INT4/INT2 for K and V: 19 bindings in one pass) takes two passes of 15 at a limit of 16.
 *
 * Throws `ERR_QATTN_UNSUPPORTED` when even one width pair exceeds the limit (11 for INT4 pages).
 */
export function planPagePasses(kWidths: readonly PoolBits[], vWidths: readonly PoolBits[], maxStorageBuffers: number): PagePass[] {
  const all: PagePass = { k: [...kWidths], v: [...vWidths] };
  if (pagePassBindings(all) <= maxStorageBuffers) return [all];
  const byK = kWidths.map((k) => ({ k: [k], v: [...vWidths] }));
  if (byK.every((pass) => pagePassBindings(pass) <= maxStorageBuffers)) return byK;
  const pairs = kWidths.flatMap((k) => vWidths.map((v) => ({ k: [k], v: [v] })));
  const needed = Math.max(...pairs.map(pagePassBindings));
  if (needed > maxStorageBuffers) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `turboDecode webgpu: reading a page needs ${needed} storage buffers in one shader stage, the device allows ${maxStorageBuffers} (maxStorageBuffersPerShaderStage)`,
      { needed, limit: maxStorageBuffers },
    );
  }
  return pairs;
}
