import { QattnError } from '@qattn/quant-core';

/** Throws `ERR_QATTN_OPTION` unless `sequence` is a sequence id of a cache of `batch` sequences. */
export function checkSequence(batch: number, method: string, sequence: unknown): asserts sequence is number {
  if (typeof sequence !== 'number' || !Number.isInteger(sequence) || sequence < 0 || sequence >= batch) {
    throw new QattnError('ERR_QATTN_OPTION', `KVCache.${method}: sequence must be an integer in [0, ${batch - 1}], got ${String(sequence)}`, {
      option: 'sequence',
      value: sequence,
    });
  }
}

/**
 * The sequence an append targets (undefined: every sequence), from its options object; `known` lists the option keys
 * the backend accepts (`sequence`, plus e.g. WebGPU's `tokens`). Unknown keys and bad ids throw `ERR_QATTN_OPTION`.
 */
export function appendSequence(batch: number, options: { sequence?: number } | undefined, known: readonly string[] = ['sequence']): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new QattnError('ERR_QATTN_OPTION', `KVCache.append: options must be an object { ${known.map((k) => `${k}?`).join(', ')} }`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new QattnError('ERR_QATTN_OPTION', `KVCache.append: unknown option '${key}' (known: ${known.join(', ')})`, { option: key });
  }
  if (options.sequence === undefined) return undefined;
  checkSequence(batch, 'append', options.sequence);
  return options.sequence;
}
