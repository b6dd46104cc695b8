import { QattnError } from '@qattn/quant-core';

/** One field of `qattn::DecodeArgs`: its byte offset and kind (`p` pointer u64, `i` int32, `f` float32). */
export type DecodeArgKind = 'p' | 'i' | 'f';

/** The layout the addon reports for `qattn::DecodeArgs` (native/decode_args.h, offsetof of each field). */
export interface DecodeArgsLayout {
  readonly bytes: number;
  readonly fields: Readonly<Record<string, readonly [number, DecodeArgKind]>>;
}

/** Field values by name: pointers as bigint (0n for null), the rest as numbers. */
export type DecodeArgValues = Record<string, bigint | number>;

/**
 * Packs the decode argument block at the addon's offsets. Every field of the layout must be given, and nothing else:
 * a missing or unknown name is a bug on this side of the boundary, reported before anything reaches the device.
 */
export function packDecodeArgs(layout: DecodeArgsLayout, values: DecodeArgValues): Uint8Array {
  const bytes = new Uint8Array(layout.bytes);
  const view = new DataView(bytes.buffer);
  for (const name of Object.keys(values)) {
    if (!(name in layout.fields)) throw new QattnError('ERR_QATTN_DEVICE', `turboDecode cuda: decode argument '${name}' is not in the addon's DecodeArgs: rebuild the addon`);
  }
  for (const [name, [offset, kind]] of Object.entries(layout.fields)) {
    const value = values[name];
    if (value === undefined) throw new QattnError('ERR_QATTN_DEVICE', `turboDecode cuda: decode argument '${name}' is missing`);
    if (kind === 'p') view.setBigUint64(offset, BigInt(value), true);
    else if (kind === 'i') view.setInt32(offset, Number(value), true);
    else view.setFloat32(offset, Number(value), true);
  }
  return bytes;
}
