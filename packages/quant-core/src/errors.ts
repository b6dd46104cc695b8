/**
 * Every failure of a qattn package is a {@link QattnError} whose `code` says what kind of failure it is, so callers
 * can branch on `err.code` instead of parsing messages.
 */
export type QattnErrorCode =
  /** An array's length does not match the shape, or a dimension is zero, negative, non-integer or inconsistent. */
  | 'ERR_QATTN_SHAPE'
  /** An input is not the typed array the API takes (e.g. not a Float32Array). */
  | 'ERR_QATTN_DTYPE'
  /** NaN or ±Infinity in an input; the message names the tensor and the first index. */
  | 'ERR_QATTN_NONFINITE'
  /** An unknown option, or an option with an invalid value. */
  | 'ERR_QATTN_OPTION'
  /** A valid request that the chosen backend does not support (e.g. a head dimension without a kernel). */
  | 'ERR_QATTN_UNSUPPORTED'
  /** The backend cannot run here (no GPU, no adapter, addon not built); the message says why. */
  | 'ERR_QATTN_BACKEND_UNAVAILABLE'
  /** The device failed at run time (CUDA error, WebGPU device lost, out of memory); the message names the call. */
  | 'ERR_QATTN_DEVICE'
  /** A tensor was used after `dispose()`. */
  | 'ERR_QATTN_DISPOSED';

/** The one error type of qattn. `code` is stable API; `details` carries machine-readable context. */
export class QattnError extends Error {
  override readonly name = 'QattnError';
  readonly code: QattnErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: QattnErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = Object.freeze({ ...details });
  }
}

/** True when `err` is a {@link QattnError}, optionally of the given code. Works across duplicated package copies. */
export function isQattnError(err: unknown, code?: QattnErrorCode): err is QattnError {
  if (typeof err !== 'object' || err === null) return false;
  const candidate = err as { name?: unknown; code?: unknown };
  return candidate.name === 'QattnError' && typeof candidate.code === 'string' && (code === undefined || candidate.code === code);
}
