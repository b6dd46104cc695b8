/**
 * `@qattn/kv-cache` and `@qattn/turbo-attn`'s decode API as the decode-cache preset uses it. The packages are imported
 * dynamically and checked export by export (as src/packages.ts does for the sweep), so a package that lacks an export
 * is reported instead of breaking the run; the runner only sees {@link DecodeCacheApi}, so tests can drive it.
 */
import type { KVCache, KVCacheOptions } from '@qattn/kv-cache';
import { resolveCommonOptions, sasThresholdForKeys, SAS_MAX_THRESHOLD, QattnError } from '@qattn/quant-core';
import type { benchmarkDecode, DecodeTimingSettings, ResolvedTurboDecodeOptions, TurboDecodeOptions } from '@qattn/turbo-attn';
import type { ApiBackendStatus, ApiDeviceTensor } from '../packages.js';

/** What one decode call runs with, as `benchmarkDecode` and the device entry take it (turboDecode's resolved call). */
export type DecodeParams = Parameters<typeof benchmarkDecode>[2];

/**
 * A device-resident decode (`loadCudaDecodeBackend().decodeDevice`, `loadWebGpuDecodeBackend().decodeDevice`): q on the
 * cache's device, out and lse returned there.
 */
export type CudaDecodeDevice = (q: ApiDeviceTensor, cache: KVCache, params: DecodeParams) => Promise<{ out: ApiDeviceTensor; lse: ApiDeviceTensor }>;

/** The decode-cache preset's view of the packages. */
export interface DecodeCacheApi {
  createKVCache(options: KVCacheOptions): Promise<KVCache>;
  /** Status of the cache's backends (`kvCacheBackends`). */
  cacheBackends(): Promise<ApiBackendStatus[]>;
  turboDecode(q: Float32Array, cache: KVCache, options: TurboDecodeOptions): Promise<Float32Array>;
  /** Device timers of the backend the cache lives on; rejects `ERR_QATTN_UNSUPPORTED` where there are none (cpu). */
  benchmarkDecode(q: Float32Array, cache: KVCache, params: DecodeParams, settings: DecodeTimingSettings): Promise<number[]>;
  /** The parameters turboDecode would run `options` with over `cache` (see {@link decodeParams}). */
  decodeParams(cache: KVCache, heads: number, options: TurboDecodeOptions): DecodeParams;
  /** The device-resident step of a backend, or undefined when the packages have none for it. */
  deviceDecode(backend: 'cuda' | 'webgpu'): Promise<CudaDecodeDevice | undefined>;
}

/** A package (or one of its exports) missing: the preset cannot run at all, and says why. */
export class DecodeCacheApiError extends Error {
  readonly code = 'ERR_BENCH_NO_API';
}

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

/**
 * turboDecode's own resolution of its options into the parameters of one call (src/decode/turbo-decode.ts in
 * `@qattn/turbo-attn`): `benchmarkDecode` and the device entry take these resolved parameters, which the package does not
 * export a function to build. Defaults come from the package's `resolveTurboDecodeOptions`; the scale and the `'auto'`
 * SAS threshold from quant-core, as turboDecode computes them.
 */
export function decodeParams(
  resolveTurboDecodeOptions: (options: TurboDecodeOptions) => ResolvedTurboDecodeOptions,
  cache: KVCache,
  heads: number,
  options: TurboDecodeOptions,
): DecodeParams {
  const resolved = resolveTurboDecodeOptions({ ...options, heads });
  const { scale } = resolveCommonOptions({ scale: resolved.scale }, cache.headDim);
  const threshold = resolved.sasThreshold === 'auto' ? sasThresholdForKeys(cache.length) : resolved.sasThreshold;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= SAS_MAX_THRESHOLD)) {
    throw new QattnError('ERR_QATTN_OPTION', `decode-cache: options.sasThreshold must be 'auto' or a number in [0, ${SAS_MAX_THRESHOLD}], got ${String(threshold)}`, {
      option: 'sasThreshold',
    });
  }
  return {
    heads,
    queryTokens: resolved.queryTokens,
    scale,
    pagesPerSplit: resolved.pagesPerSplit,
    variant: { exponent: resolved.sas ? 'sas' : 'exp2', sasThreshold: threshold, skipSparseTiles: resolved.sas },
  };
}

/**
 * Imports the packages and checks every export the preset uses. Literal `import('…')` specifiers, so the GPU-host
 * bundle inlines them. Throws {@link DecodeCacheApiError} naming what is missing.
 */
export async function loadDecodeCacheApi(): Promise<DecodeCacheApi> {
  let kv: Record<string, unknown>;
  let turbo: Record<string, unknown>;
  try {
    [kv, turbo] = await Promise.all([import('@qattn/kv-cache') as Promise<Record<string, unknown>>, import('@qattn/turbo-attn') as Promise<Record<string, unknown>>]);
  } catch (err) {
    throw new DecodeCacheApiError(`cannot import @qattn/kv-cache / @qattn/turbo-attn: ${(err as Error).message}`);
  }
  const needed = { createKVCache: kv.createKVCache, kvCacheBackends: kv.kvCacheBackends, turboDecode: turbo.turboDecode, benchmarkDecode: turbo.benchmarkDecode, resolveTurboDecodeOptions: turbo.resolveTurboDecodeOptions };
  const missing = Object.entries(needed).filter(([, value]) => !isFunction(value)).map(([name]) => name);
  if (missing.length) throw new DecodeCacheApiError(`the packages do not export ${missing.join(', ')}`);
  const createKVCache = kv.createKVCache as DecodeCacheApi['createKVCache'];
  const kvCacheBackends = kv.kvCacheBackends as () => Promise<ApiBackendStatus[]>;
  const turboDecode = turbo.turboDecode as DecodeCacheApi['turboDecode'];
  const benchmark = turbo.benchmarkDecode as DecodeCacheApi['benchmarkDecode'];
  const resolve = turbo.resolveTurboDecodeOptions as (options: TurboDecodeOptions) => ResolvedTurboDecodeOptions;
  const loaders = { cuda: turbo.loadCudaDecodeBackend, webgpu: turbo.loadWebGpuDecodeBackend };
  return {
    createKVCache,
    cacheBackends: () => kvCacheBackends(),
    turboDecode,
    benchmarkDecode: benchmark,
    decodeParams: (cache, heads, options) => decodeParams(resolve, cache, heads, options),
    async deviceDecode(backend) {
      // A package without the entry: the row says so.
      const load = loaders[backend];
      if (!isFunction(load)) return undefined;
      const decoder = (await (load as () => Promise<{ decodeDevice?: unknown }>)()) as { decodeDevice?: CudaDecodeDevice };
      if (!isFunction(decoder.decodeDevice)) return undefined;
      return (q, cache, params) => decoder.decodeDevice!.call(decoder, q, cache, params);
    },
  };
}
