import { type PagePoolStorage, pageWords } from './layout.js';
import type { PageBits } from './options.js';
import { SlotFreeList } from './slot-free-list.js';

/**
 * Page slots of one width ({@link PagePoolStorage}) with a free list. A fixed pool is allocated once at its full size;
 * a growing one reallocates to max(needed, 1.5×) when a reservation does not fit, so prompts allocate exactly and
 * decode steps amortize. Slots are handed out lowest first.
 */
export class PagePool {
  readonly bits: PageBits;
  readonly wordsPerPage: number;
  readonly metaPerPage: number;
  readonly scalesPerPage: number;
  readonly growable: boolean;
  #codes: Uint32Array; // [slots, wordsPerPage]
  #step: Uint8Array; // [slots, metaPerPage]
  #zero: Int8Array; // [slots, metaPerPage]
  #scales: Float32Array; // [slots, scalesPerPage]
  readonly #free: SlotFreeList;

  constructor(bits: PageBits, pageSize: number, headDim: number, metaPerPage: number, scalesPerPage: number, slots: number, growable: boolean) {
    this.bits = bits;
    this.wordsPerPage = pageWords(bits, pageSize, headDim);
    this.metaPerPage = metaPerPage;
    this.scalesPerPage = scalesPerPage;
    this.growable = growable;
    this.#codes = new Uint32Array(slots * this.wordsPerPage);
    this.#step = new Uint8Array(slots * metaPerPage);
    this.#zero = new Int8Array(slots * metaPerPage);
    this.#scales = new Float32Array(slots * scalesPerPage);
    this.#free = new SlotFreeList(bits, slots, growable);
  }

  /** Slots allocated (used or free). */
  get slots(): number {
    return this.#free.slots;
  }

  /** Slots in use. */
  get used(): number {
    return this.#free.used;
  }

  /** Makes room for `count` more pages (growing pools only; a fixed pool was sized for its capacity). */
  reserve(count: number): void {
    const oldSlots = this.slots;
    this.#free.reserve(count); // throws for a full fixed pool
    const slots = this.slots;
    if (slots === oldSlots) return;
    const grow = <T extends Uint32Array | Uint8Array | Int8Array | Float32Array>(old: T, perSlot: number, make: (n: number) => T): T => {
      const next = make(slots * perSlot);
      next.set(old);
      return next;
    };
    this.#codes = grow(this.#codes, this.wordsPerPage, (n) => new Uint32Array(n));
    this.#step = grow(this.#step, this.metaPerPage, (n) => new Uint8Array(n));
    this.#zero = grow(this.#zero, this.metaPerPage, (n) => new Int8Array(n));
    this.#scales = grow(this.#scales, this.scalesPerPage, (n) => new Float32Array(n));
  }

  /** Takes a free slot (call {@link reserve} first). */
  allocate(): number {
    return this.#free.allocate();
  }

  /** Returns a slot to the pool. Its contents are left as they are; the page table no longer points at it. */
  release(slot: number): void {
    this.#free.release(slot);
  }

  /** The live arrays (valid until the next {@link reserve} that grows the pool). */
  storage(): PagePoolStorage {
    return {
      bits: this.bits,
      wordsPerPage: this.wordsPerPage,
      metaPerPage: this.metaPerPage,
      scalesPerPage: this.scalesPerPage,
      codes: this.#codes,
      step: this.#step,
      zero: this.#zero,
      scales: this.#scales,
    };
  }

  /** Bytes allocated: codes, step, zero and scales of every slot (the free list is host bookkeeping, not counted). */
  bytes(): number {
    return this.#codes.byteLength + this.#step.byteLength + this.#zero.byteLength + this.#scales.byteLength;
  }
}
