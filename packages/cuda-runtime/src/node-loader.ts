// Locating and loading .node files: the only part of the runtime that needs Node built-ins. Browser bundles get
// node-loader.browser.ts instead (package.json `browser` condition), so @qattn/flash-int8 bundles for the web.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QattnError } from '@qattn/quant-core';

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
