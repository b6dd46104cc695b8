/**
 * Placeholder of the demo app: a later issue turns it into a browser page that runs qattn's WebGPU backend on a
 * model's attention layer. For now it exposes the one thing it will show: the packages' available backends.
 */
import { flashInt8Backends } from '@qattn/flash-int8';

export async function listBackends(): Promise<string[]> {
  return (await flashInt8Backends()).map((s) => `${s.name}: ${s.available ? 'available' : `unavailable (${s.reason})`}`);
}
