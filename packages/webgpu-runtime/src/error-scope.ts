import { QattnError, isQattnError } from '@qattn/quant-core';
import { assertAlive, type GpuContext } from './device.js';

const SCOPES: readonly GPUErrorFilter[] = ['out-of-memory', 'validation', 'internal'];

/**
 * Runs `work` (which encodes and submits GPU commands) inside out-of-memory, validation and internal error scopes
 * and turns whatever the device reports into `ERR_QATTN_DEVICE`, naming `operation`: WebGPU reports these errors
 * asynchronously and otherwise only as console warnings, which would leave the caller with silent garbage.
 * A device lost during `work` also becomes `ERR_QATTN_DEVICE`; the next {@link acquireGpu} replaces it.
 */
export async function withDeviceErrors<T>(context: GpuContext, operation: string, work: () => Promise<T> | T): Promise<T> {
  assertAlive(context, operation);
  const { device } = context;
  for (const filter of SCOPES) device.pushErrorScope(filter);
  let result: T | undefined;
  let thrown: unknown;
  let failed = false;
  try {
    result = await work();
  } catch (err) {
    thrown = err;
    failed = true;
  }
  const reported: Array<{ filter: GPUErrorFilter; message: string }> = [];
  // Scopes pop in reverse order of their push.
  for (const filter of [...SCOPES].reverse()) {
    const error = await device.popErrorScope().catch(() => null);
    if (error) reported.push({ filter, message: error.message });
  }
  if (context.lostReason !== undefined) {
    assertAlive(context, operation);
  }
  if (reported.length > 0) {
    const kind = reported.some((e) => e.filter === 'out-of-memory') ? 'out of memory' : `${reported[0].filter} error`;
    throw new QattnError('ERR_QATTN_DEVICE', `${operation}: WebGPU ${kind}: ${reported.map((e) => e.message).join(' | ')}`, {
      operation,
      kind,
    });
  }
  if (failed) {
    if (isQattnError(thrown)) throw thrown;
    throw new QattnError('ERR_QATTN_DEVICE', `${operation}: ${(thrown as Error)?.message ?? String(thrown)}`, { operation }, { cause: thrown });
  }
  return result as T;
}
