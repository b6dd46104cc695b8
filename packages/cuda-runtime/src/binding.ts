import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QattnError } from '@qattn/quant-core';

/** What `probe()` of the addon reports; never throws for a missing driver or device. */
export interface NativeProbe {
  runtimeVersion: number;
  driverVersion: number;
  deviceCount: number;
  /** cudaError_t of the failed probe call. */
  cudaStatus?: number;
  error?: string;
  name?: string;
  major?: number;
  minor?: number;
  multiProcessorCount?: number;
  totalGlobalMem?: number;
  sharedMemPerBlockOptin?: number;
  l2CacheSize?: number;
}

/**
 * The native addon `qattn_cuda_runtime.node` (native/runtime_addon.cc). Every method that touches the device returns
 * a promise settled by the addon's queue thread, in submission order (one CUDA stream). Rejections are plain Errors
 * with a `cudaStatus` number; {@link CudaRuntime} turns them into `QattnError`s.
 */
export interface Binding {
  /** Version of the launcher ABI (native/include/qattn/launch_abi.h) that kernel addons must match. */
  readonly abiVersion: number;
  probe(): NativeProbe;
  alloc(bytes: number): Promise<bigint>;
  /** Returns false when `pointer` is not a live allocation (already freed). */
  free(pointer: bigint): boolean;
  upload(pointer: bigint, host: ArrayBufferView): Promise<void>;
  download(pointer: bigint, host: ArrayBufferView): Promise<void>;
  memset(pointer: bigint, byteValue: number, bytes: number): Promise<void>;
  /** Calls a `qattn_launch_fn` of a kernel addon with the packed `args` on the runtime's stream, then waits for it. */
  launch(launcher: bigint, args: Uint8Array): Promise<void>;
  /** Runs the launcher `warmup` times, then `repeats` times between CUDA events; resolves to each repeat's ms. */
  time(launcher: bigint, args: Uint8Array, warmup: number, repeats: number): Promise<number[]>;
  synchronize(): Promise<void>;
  memInfo(): Promise<{ free: number; total: number }>;
  liveBuffers(): number;
}

/** Directory of the package that contains `moduleUrl`: the nearest ancestor with a package.json (dist/ or src/…). */
export function packageRoot(moduleUrl: string): string {
  let dir = path.dirname(fileURLToPath(moduleUrl));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return path.dirname(fileURLToPath(moduleUrl));
    dir = parent;
  }
  return dir;
}

/**
 * Loads a CUDA addon of a @qattn package. `envOverride` names an environment variable that may point at the .node
 * file (for bundled deployments); otherwise it is `<packageDir>/build/Release/<fileName>`. A missing file throws
 * `ERR_QATTN_BACKEND_UNAVAILABLE` naming the command that builds it.
 */
export function loadAddon<T>(packageDir: string, fileName: string, packageName: string, envOverride: string): T {
  const file = process.env[envOverride] || path.join(packageDir, 'build', 'Release', fileName);
  if (!existsSync(file)) {
    throw new QattnError(
      'ERR_QATTN_BACKEND_UNAVAILABLE',
      `${packageName}: the CUDA addon ${file} is missing; build it with \`pnpm --filter ${packageName} build\` ` +
        `(needs nvcc: CUDA_PATH or /usr/local/cuda), or point ${envOverride} at a built ${fileName}`,
      { file, packageName },
    );
  }
  try {
    return createRequire(import.meta.url)(file) as T;
  } catch (err) {
    throw new QattnError(
      'ERR_QATTN_BACKEND_UNAVAILABLE',
      `${packageName}: the CUDA addon ${file} failed to load (${(err as Error).message}); rebuild it with ` +
        `\`pnpm --filter ${packageName} build\``,
      { file, packageName },
      { cause: err },
    );
  }
}
