import { QattnError } from '@qattn/quant-core';
import type { PageBits } from './options.js';

/**
 * The free list of one page pool, without the pool's arrays: the allocation policy every backend shares (the CPU
 * PagePool holds one next to its arrays, a CUDA cache one per device pool), so that device caches hand out the same
 * slots as the CPU oracle: slots are handed out lowest first, a fixed pool never grows, a growing one grows to
 * max(needed, ⌈1.5 × slots⌉) with the new slots below the old free ones.
 */
export class SlotFreeList {
  readonly bits: PageBits;
  readonly growable: boolean;
  #free: Int32Array; // stack of free slots, lowest on top
  #freeCount = 0;

  constructor(bits: PageBits, slots: number, growable: boolean) {
    this.bits = bits;
    this.growable = growable;
    this.#free = new Int32Array(slots);
    for (let slot = slots - 1; slot >= 0; slot--) this.#free[this.#freeCount++] = slot;
  }

  /** Slots the pool has (used or free): the device pool must hold at least this many. */
  get slots(): number {
    return this.#free.length;
  }

  get used(): number {
    return this.#free.length - this.#freeCount;
  }

  /** Slots the pool would have after making room for `count` more pages (pure; throws for a full fixed pool). */
  slotsAfterReserve(count: number): number {
    if (count <= this.#freeCount) return this.slots;
    if (!this.growable) throw new QattnError('ERR_QATTN_SHAPE', `kv-cache: the ${this.bits}-bit page pool is full (${this.slots} pages)`);
    return Math.max(this.used + count, Math.ceil(this.slots * 1.5));
  }

  /** Makes room for `count` more pages (PagePool.reserve). */
  reserve(count: number): void {
    const slots = this.slotsAfterReserve(count);
    if (slots === this.slots) return;
    const added = slots - this.slots;
    const free = new Int32Array(slots);
    for (let i = 0; i < added; i++) free[i] = slots - 1 - i;
    free.set(this.#free.subarray(0, this.#freeCount), added);
    this.#free = free;
    this.#freeCount += added;
  }

  allocate(): number {
    if (this.#freeCount === 0) throw new QattnError('ERR_QATTN_SHAPE', `kv-cache: the ${this.bits}-bit page pool is full (${this.slots} pages)`);
    return this.#free[--this.#freeCount];
  }

  release(slot: number): void {
    this.#free[this.#freeCount++] = slot;
  }
}
