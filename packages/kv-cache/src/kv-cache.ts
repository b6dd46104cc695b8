import { type OptionTable, QattnError, assertFinite, assertFloat32Array, resolveOptions } from '@qattn/quant-core';
import { type CompressedBlock, compressBuffer, compressedGroupBytes, decompressGroupInt8 } from './compressed-block.js';
import { TokenBuffer } from './token-buffer.js';

/** Dimensions of a cache: k and v rows are `[batch, kvHeads, tokens, headDim]`, as attention takes them. */
export interface KVCacheShape {
  batch: number;
  kvHeads: number;
  headDim: number;
}

/** Options of {@link QuantizedKVCache}. */
export interface KVCacheOptions {
  /** Tokens per compressed block; the INT8 buffer holds fewer. Default 64 (TurboAttention's block). */
  blockSize?: number;
  /**
   * Share of kv heads (per batch element, block and tensor) stored at 2 bits; the rest get 4. The lowest-priority
   * heads (gap × std) go to 2 bits. Default 0: every head at 4 bits (3.76× smaller than fp16 at headDim 128). 0.5 is
   * the paper's mix (4.9×) at a measured accuracy cost (the README's table), so it is opt-in.
   */
  lowBitFraction?: number;
}

const OPTIONS: OptionTable<KVCacheOptions> = {
  blockSize: { kind: 'integer', min: 1, max: 4096, default: 64 },
  lowBitFraction: { kind: 'number', min: 0, max: 1, default: 0 },
};

/** The cache's contents as INT8 codes with one scale per token (what an INT8 attention kernel consumes). */
export interface KVCacheInt8View {
  /** `[batch, kvHeads, length, headDim]` */
  k: Int8Array;
  /** `[batch, kvHeads, length]`: k[…, t, d] ≈ kCodes[…, t, d] · kScale[…, t] */
  kScale: Float32Array;
  /** `[batch, kvHeads, length, headDim]` */
  v: Int8Array;
  /** `[batch, kvHeads, length]` */
  vScale: Float32Array;
}

/** What the cache occupies, against the same tokens in fp16. */
export interface KVCacheMemory {
  /** Bytes holding data: compressed blocks (codes, per-channel step/offset, block scale) + buffered INT8 tokens and scales. */
  bytes: number;
  /** Bytes of the same K and V in fp16: 2 · 2 · batch · kvHeads · length · headDim. */
  fp16Bytes: number;
  /** fp16Bytes / bytes (0 for an empty cache). */
  compressionRatio: number;
  /** Tokens in compressed blocks. */
  compressedTokens: number;
  /** Tokens in the INT8 buffer (fewer than blockSize). */
  bufferedTokens: number;
}

/**
 * A quantized KV cache with TurboAttention's enhanced KV buffer and progressive compression.
 *
 * `append` quantizes new tokens to INT8 per token and head into a buffer; whenever `blockSize` tokens have
 * accumulated, the buffer is flushed: re-quantized to one INT8 scale per (block, head), then compressed per channel to
 * 4 or 2 bits with integer step and offset, each head's width chosen by its priority (gap × std) so that a
 * `lowBitFraction` share of heads gets 2 bits. `read()` dequantizes everything to float32; `readInt8()` gives the
 * INT8 codes an INT8 attention kernel would run on.
 *
 * Error bound, per element, in real units (s_t: the token's INT8 scale, s_b: the block's, step: the channel's
 * integer step of the progressive stage, ≤ 17 at 4 bits and ≤ 85 at 2 bits):
 *   buffered tokens:   |x − x̂| ≤ s_t / 2
 *   compressed tokens: |x − x̂| ≤ s_t / 2 + s_b / 2 + s_b · ⌊step / 2⌋ ≤ s_b · (1 + ⌊step / 2⌋)
 *
 * @example
 * const cache = new QuantizedKVCache({ batch: 1, kvHeads: 8, headDim: 128 });
 * cache.append(kPrompt, vPrompt, 300);      // [1, 8, 300, 128] each: 4 blocks compressed, 44 tokens buffered
 * cache.append(kStep, vStep, 1);            // one decoded token
 * const { k, v } = cache.read();            // Float32Array [1, 8, 301, 128]
 * cache.memory().compressionRatio;          // ≈ 4.0 vs fp16 (the 45 buffered tokens are INT8)
 */
export class QuantizedKVCache {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly blockSize: number;
  readonly lowBitFraction: number;
  readonly #kBuffer: TokenBuffer;
  readonly #vBuffer: TokenBuffer;
  readonly #kBlocks: CompressedBlock[] = [];
  readonly #vBlocks: CompressedBlock[] = [];

  constructor(shape: KVCacheShape, options?: KVCacheOptions) {
    if (typeof shape !== 'object' || shape === null) {
      throw new QattnError('ERR_QATTN_SHAPE', 'QuantizedKVCache: shape must be an object {batch, kvHeads, headDim}');
    }
    for (const name of ['batch', 'kvHeads', 'headDim'] as const) {
      const value: unknown = shape[name];
      if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
        throw new QattnError('ERR_QATTN_SHAPE', `QuantizedKVCache: shape.${name} must be a positive integer, got ${String(value)} (k/v [batch, kvHeads, tokens, headDim])`, {
          dimension: name,
          value,
        });
      }
    }
    const resolved = resolveOptions(OPTIONS, options, 'QuantizedKVCache');
    this.batch = shape.batch;
    this.kvHeads = shape.kvHeads;
    this.headDim = shape.headDim;
    this.blockSize = resolved.blockSize;
    this.lowBitFraction = resolved.lowBitFraction;
    this.#kBuffer = new TokenBuffer(this.batch * this.kvHeads, this.blockSize, this.headDim);
    this.#vBuffer = new TokenBuffer(this.batch * this.kvHeads, this.blockSize, this.headDim);
  }

  /** Tokens in the cache. */
  get length(): number {
    return this.#kBlocks.length * this.blockSize + this.#kBuffer.length;
  }

  /**
   * Appends `tokens` tokens: k and v are `[batch, kvHeads, tokens, headDim]` Float32Arrays. Every full block is
   * compressed as soon as it fills. Validates everything before changing the cache, so a rejected call leaves it as
   * it was; the inputs are not modified. Throws `ERR_QATTN_DTYPE`, `ERR_QATTN_SHAPE`, `ERR_QATTN_NONFINITE`.
   */
  append(k: Float32Array, v: Float32Array, tokens: number): void {
    if (typeof tokens !== 'number' || !Number.isInteger(tokens) || tokens <= 0) {
      throw new QattnError('ERR_QATTN_SHAPE', `QuantizedKVCache.append: tokens must be a positive integer, got ${String(tokens)}`, {
        dimension: 'tokens',
        value: tokens,
      });
    }
    const expected = this.batch * this.kvHeads * tokens * this.headDim;
    for (const [name, tensor] of [['k', k], ['v', v]] as const) {
      assertFloat32Array(name, tensor);
      if (tensor.length !== expected) {
        throw new QattnError(
          'ERR_QATTN_SHAPE',
          `QuantizedKVCache.append: ${name} has ${tensor.length} elements but [batch, kvHeads, tokens, headDim] = [${this.batch}, ${this.kvHeads}, ${tokens}, ${this.headDim}] needs ${expected}`,
          { tensor: name, length: tensor.length, expected },
        );
      }
      assertFinite(name, tensor);
    }
    for (let t = 0; t < tokens; t++) {
      this.#kBuffer.push(k, tokens, t);
      this.#vBuffer.push(v, tokens, t);
      if (this.#kBuffer.length === this.blockSize) this.#flush();
    }
  }

  /** Dequantized contents: k and v as Float32Arrays `[batch, kvHeads, length, headDim]` (x̂ = code · scale). */
  read(): { k: Float32Array; v: Float32Array } {
    const { k, kScale, v, vScale } = this.readInt8();
    return { k: dequantizeRows(k, kScale, this.headDim), v: dequantizeRows(v, vScale, this.headDim) };
  }

  /** Contents as INT8 codes with one scale per token (compressed blocks decompressed to INT8 in the integer domain). */
  readInt8(): KVCacheInt8View {
    const [k, kScale] = this.#int8Of(this.#kBlocks, this.#kBuffer);
    const [v, vScale] = this.#int8Of(this.#vBlocks, this.#vBuffer);
    return { k, kScale, v, vScale };
  }

  /**
   * Bits of each compressed block per (batch, kvHead): `[blocks][batch · kvHeads]`, 2 or 4, for K and V. Shows the
   * head-wise mixed precision that the priorities chose.
   */
  blockBits(): { k: Uint8Array[]; v: Uint8Array[] } {
    return { k: this.#kBlocks.map((b) => b.bits.slice()), v: this.#vBlocks.map((b) => b.bits.slice()) };
  }

  /** Memory used against fp16 (see {@link KVCacheMemory}). */
  memory(): KVCacheMemory {
    const { batch, kvHeads, headDim, blockSize } = this;
    let bytes = 0;
    for (const block of [...this.#kBlocks, ...this.#vBlocks]) {
      for (const bits of block.bits) bytes += compressedGroupBytes(blockSize, headDim, bits as 2 | 4);
    }
    // Buffered tokens: one INT8 code per value plus a float32 scale per (token, head), for K and V.
    const buffered = this.#kBuffer.length;
    bytes += 2 * batch * kvHeads * buffered * (headDim + 4);
    const fp16Bytes = 2 * 2 * batch * kvHeads * this.length * headDim;
    return {
      bytes,
      fp16Bytes,
      compressionRatio: bytes === 0 ? 0 : fp16Bytes / bytes,
      compressedTokens: this.#kBlocks.length * blockSize,
      bufferedTokens: buffered,
    };
  }

  /** Empties the cache (keeps its shape and options). */
  clear(): void {
    this.#kBlocks.length = 0;
    this.#vBlocks.length = 0;
    this.#kBuffer.length = 0;
    this.#vBuffer.length = 0;
  }

  #flush(): void {
    this.#kBlocks.push(compressBuffer(this.#kBuffer, this.batch, this.kvHeads, this.lowBitFraction));
    this.#vBlocks.push(compressBuffer(this.#vBuffer, this.batch, this.kvHeads, this.lowBitFraction));
    this.#kBuffer.length = 0;
    this.#vBuffer.length = 0;
  }

  #int8Of(blocks: readonly CompressedBlock[], buffer: TokenBuffer): [Int8Array, Float32Array] {
    const { headDim, blockSize } = this;
    const groups = this.batch * this.kvHeads;
    const length = this.length;
    const codes = new Int8Array(groups * length * headDim); // [groups, length, headDim]
    const scales = new Float32Array(groups * length); // [groups, length]
    for (let g = 0; g < groups; g++) {
      const groupToken = g * length;
      blocks.forEach((block, index) => {
        const token = groupToken + index * blockSize;
        decompressGroupInt8(block, g, codes, token * headDim, scales, token);
      });
      const firstBuffered = groupToken + blocks.length * blockSize;
      codes.set(buffer.codes.subarray(g * blockSize * headDim, (g * blockSize + buffer.length) * headDim), firstBuffered * headDim);
      scales.set(buffer.scales.subarray(g * blockSize, g * blockSize + buffer.length), firstBuffered);
    }
    return [codes, scales];
  }
}

/** x̂[row, d] = codes[row, d] · scales[row] (float64 product, rounded once to float32). */
function dequantizeRows(codes: Int8Array, scales: Float32Array, headDim: number): Float32Array {
  const out = new Float32Array(codes.length);
  for (let row = 0; row < scales.length; row++) {
    const scale = scales[row];
    for (let d = 0; d < headDim; d++) out[row * headDim + d] = codes[row * headDim + d] * scale;
  }
  return out;
}
