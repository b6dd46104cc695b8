// Locating and loading .node files: the only part of the runtime that needs Node built-ins. Browser bundles get
// node-loader.browser.ts instead (package.json `browser` condition), so @qattn/flash-int8 bundles for the web.
//
// Where an addon of package `@qattn/x` comes from, in order (the first file that exists and loads wins):
//   1. the environment variable the package names (bundled deployments, custom builds);
//   2. the per-platform package `@qattn/x-<target>` (e.g. `@qattn/x-linux-x64-gnu`), an optionalDependency of
//      `@qattn/x` that npm/pnpm/yarn install only on a matching os/cpu/libc — the prebuilt addon from CI;
//   3. `<package>/build/Release/<file>`: a build from source (`npx qattn-build-cuda @qattn/x`, or the repo's build).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QattnError } from '@qattn/quant-core';

/** Targets with a prebuilt addon package (tooling/scripts/native-packages.mjs `TARGETS` makes their folders). */
export const PREBUILT_NATIVE_TARGETS: readonly string[] = ['linux-x64-gnu'];

/** The command that builds a package's addon from source inside a project that installed it. */
export function buildFromSourceCommand(packageName: string): string {
  return `npx qattn-build-cuda ${packageName}`;
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

/** The platform a process runs on, as per-platform package suffixes spell it (`linux-x64-gnu`, `darwin-arm64`). */
export function nativeTarget(platform: string = process.platform, arch: string = process.arch, libc: 'gnu' | 'musl' = detectLibc()): string {
  return platform === 'linux' ? `${platform}-${arch}-${libc}` : `${platform}-${arch}`;
}

function detectLibc(): 'gnu' | 'musl' {
  if (process.platform !== 'linux') return 'gnu';
  // Node's diagnostic report names the glibc it runs on; musl builds (Alpine) have none.
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'gnu' : 'musl';
}

/** One place an addon may be, in the order `loadAddon` tries them. */
export interface AddonCandidate {
  readonly source: 'env' | 'prebuilt' | 'source-build';
  /** The .node path, or undefined when this source is absent (env unset, platform package not installed). */
  readonly file: string | undefined;
  /** Why this source is absent, for the error message. */
  readonly missing?: string;
}

/**
 * Where `loadAddon` looks for `<fileName>` of `packageName` (installed at `packageDir`), in order. Pure apart from
 * `require.resolve` of the platform package, so tests can point it at a fake node_modules.
 */
export function addonCandidates(
  packageDir: string,
  fileName: string,
  packageName: string,
  envOverride: string,
  target: string = nativeTarget(),
  env: NodeJS.ProcessEnv = process.env,
): AddonCandidate[] {
  const envFile = env[envOverride];
  const platformPackage = `${packageName}-${target}`;
  let prebuilt: AddonCandidate;
  try {
    // Resolved from the package itself: npm hoists the optional dependency beside it, pnpm links it into its deps.
    const manifest = createRequire(path.join(packageDir, 'package.json')).resolve(`${platformPackage}/package.json`);
    prebuilt = { source: 'prebuilt', file: path.join(path.dirname(manifest), fileName) };
  } catch {
    prebuilt = {
      source: 'prebuilt',
      file: undefined,
      missing: PREBUILT_NATIVE_TARGETS.includes(target)
        ? `${platformPackage} is not installed (optional dependencies omitted?)`
        : `no prebuilt addon for ${target} (prebuilt: ${PREBUILT_NATIVE_TARGETS.join(', ')})`,
    };
  }
  return [
    envFile ? { source: 'env', file: envFile } : { source: 'env', file: undefined, missing: `${envOverride} is unset` },
    prebuilt,
    { source: 'source-build', file: path.join(packageDir, 'build', 'Release', fileName) },
  ];
}

/**
 * Loads a CUDA addon of a @qattn package from the first of `addonCandidates` that exists and loads. Throws
 * `ERR_QATTN_BACKEND_UNAVAILABLE` listing where it looked and naming `npx qattn-build-cuda <package>`; on macOS it
 * says that CUDA does not exist there.
 */
export function loadAddon<T>(packageDir: string, fileName: string, packageName: string, envOverride: string): T {
  const target = nativeTarget();
  const candidates = addonCandidates(packageDir, fileName, packageName, envOverride, target);
  const tried: string[] = [];
  const failures: Error[] = [];
  for (const candidate of candidates) {
    if (!candidate.file) {
      tried.push(`${candidate.source}: ${candidate.missing}`);
      continue;
    }
    if (!existsSync(candidate.file)) {
      tried.push(`${candidate.source}: ${candidate.file} does not exist`);
      // An explicit override that points nowhere is a mistake to report, not a reason to load something else.
      if (candidate.source === 'env') break;
      continue;
    }
    try {
      return createRequire(import.meta.url)(candidate.file) as T;
    } catch (err) {
      failures.push(err as Error);
      tried.push(`${candidate.source}: ${candidate.file} failed to load (${(err as Error).message})`);
      if (candidate.source === 'env') break;
    }
  }
  const reason = process.platform === 'darwin'
    ? 'CUDA does not run on macOS'
    : failures.length > 0 ? 'the CUDA addon failed to load' : 'the CUDA addon is missing';
  throw new QattnError(
    'ERR_QATTN_BACKEND_UNAVAILABLE',
    `${packageName}: ${reason} on ${target} (looked in: ${tried.join('; ')}); build it from source with ` +
      `\`${buildFromSourceCommand(packageName)}\` (needs nvcc: CUDA_PATH or /usr/local/cuda, and cmake), ` +
      `or point ${envOverride} at a built ${fileName}`,
    { packageName, target, tried },
    failures.length > 0 ? { cause: failures[failures.length - 1] } : undefined,
  );
}
