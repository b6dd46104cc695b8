import { QattnError } from './errors.js';

/**
 * Describes one option of an option record: its allowed values and default. Algorithm variants are data: each
 * kernel package declares its options as a table of these and validates a caller's record once, up front.
 */
export type OptionSpec<T> =
  | { kind: 'enum'; values: readonly T[]; default: T }
  | { kind: 'boolean'; default: T }
  | { kind: 'integer'; min: number; max: number; default: T; multipleOf?: number }
  | { kind: 'number'; min: number; max: number; default: T }
  | { kind: 'passthrough'; default: T };

/** A table of option specs keyed like the option record it validates. */
export type OptionTable<R> = { [K in keyof R]-?: OptionSpec<R[K]> };

/**
 * Validates `given` against `table`: unknown keys and values outside their spec throw `ERR_QATTN_OPTION` naming the
 * option and what it accepts. Returns a new record with every default filled in; `given` is not modified.
 */
export function resolveOptions<R extends object>(table: OptionTable<R>, given: object | undefined, context: string): Required<R> {
  if (given !== undefined && (typeof given !== 'object' || given === null)) {
    throw new QattnError('ERR_QATTN_OPTION', `${context}: options must be an object`);
  }
  const source = (given ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    if (!(key in table)) {
      throw new QattnError(
        'ERR_QATTN_OPTION',
        `${context}: unknown option '${key}' (known: ${Object.keys(table).join(', ')})`,
        { option: key },
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table) as Array<[string, OptionSpec<unknown>]>) {
    const value = source[key] === undefined ? spec.default : source[key];
    const fail = (accepts: string): never => {
      throw new QattnError('ERR_QATTN_OPTION', `${context}: options.${key} must be ${accepts}, got ${JSON.stringify(value)}`, {
        option: key,
        value,
      });
    };
    switch (spec.kind) {
      case 'enum':
        if (!spec.values.includes(value)) fail(`one of ${spec.values.map((x) => JSON.stringify(x)).join(', ')}`);
        break;
      case 'boolean':
        if (typeof value !== 'boolean') fail('a boolean');
        break;
      case 'integer':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || value > spec.max) {
          fail(`an integer in [${spec.min}, ${spec.max}]`);
        }
        if (spec.multipleOf !== undefined && (value as number) % spec.multipleOf !== 0) fail(`a multiple of ${spec.multipleOf}`);
        break;
      case 'number':
        if (typeof value !== 'number' || !Number.isFinite(value) || value < spec.min || value > spec.max) {
          fail(`a number in [${spec.min}, ${spec.max}]`);
        }
        break;
      case 'passthrough':
        break;
    }
    out[key] = value;
  }
  return out as Required<R>;
}
