// What the CUDA attention kernels are compiled for, defined once in capabilities.json: read here (bundled into dist)
// and turned into qattn/capabilities.h by cmake/qattn_kernel_addon.cmake when an addon is configured.
import { QattnError } from '@qattn/quant-core';
import capabilitiesFile from '../capabilities.json';

/** Head dims and key blocks with a compiled attention kernel in one package's addon. */
export interface AttentionKernelCapabilities {
  /** The capabilities.json entry, e.g. `'turbo-attn'`. */
  readonly entry: string;
  /** Head dims with a kernel. */
  readonly headDims: readonly number[];
  /** Keys per P-rowmax and V/K scale block (the oracles' `blockN`) with an INT8 P·V kernel. */
  readonly keyBlocks: readonly number[];
}

interface CapabilitiesFile {
  keyBlocks: number[];
  attention: Record<string, { headDims: number[] }>;
}

const file = capabilitiesFile as CapabilitiesFile;

/** The entries of capabilities.json (`attention.<entry>`): one per kernel package with a CUDA addon. */
export const CUDA_ATTENTION_ENTRIES: readonly string[] = Object.freeze(Object.keys(file.attention));

/**
 * The compiled head dims and key blocks of a package's CUDA attention addon. Throws `ERR_QATTN_OPTION` for an entry
 * capabilities.json does not have.
 *
 * @example
 * const { headDims } = attentionCapabilities('turbo-attn');   // [64, 128]
 */
export function attentionCapabilities(entry: string): AttentionKernelCapabilities {
  const kernel = Object.hasOwn(file.attention, entry) ? file.attention[entry] : undefined;
  if (!kernel) {
    throw new QattnError('ERR_QATTN_OPTION', `capabilities.json has no attention entry '${entry}' (entries: ${CUDA_ATTENTION_ENTRIES.join(', ')})`, {
      option: 'entry',
      value: entry,
    });
  }
  return Object.freeze({ entry, headDims: Object.freeze([...kernel.headDims]), keyBlocks: Object.freeze([...file.keyBlocks]) });
}

/**
 * Throws `ERR_QATTN_UNSUPPORTED` (naming the option and what is compiled) when `headDim`, or `keyBlock` where the call
 * has one, has no kernel in the addon described by `capabilities`. `what` prefixes the message, e.g.
 * `'@qattn/turbo-attn cuda'`.
 */
export function assertKernelCompiled(
  what: string,
  capabilities: AttentionKernelCapabilities,
  call: { headDim: number; keyBlock?: number; keyBlockOption?: string },
): void {
  const { headDim, keyBlock, keyBlockOption = 'blockN' } = call;
  if (!capabilities.headDims.includes(headDim)) {
    throw new QattnError('ERR_QATTN_UNSUPPORTED', `${what}: headDim ${headDim} has no kernel (compiled: ${capabilities.headDims.join(', ')})`, {
      backend: 'cuda',
      headDim,
    });
  }
  if (keyBlock !== undefined && !capabilities.keyBlocks.includes(keyBlock)) {
    throw new QattnError(
      'ERR_QATTN_UNSUPPORTED',
      `${what}: ${keyBlockOption} ${keyBlock} has no kernel (compiled key blocks: ${capabilities.keyBlocks.join(', ')})`,
      { backend: 'cuda', option: keyBlockOption },
    );
  }
}
