#!/usr/bin/env node
// qattn-build-cuda: builds the CUDA addons of installed @qattn packages from source, inside the project that
// installed them (node_modules/@qattn/<pkg>/build/Release, where the loader looks last). For platforms without a
// prebuilt addon package, or to rebuild one. Needs nvcc (CUDA_PATH or /usr/local/cuda) and cmake ≥ 3.19; cmake-js and
// node-addon-api come with @qattn/cuda-runtime.
//   npx qattn-build-cuda                       every installed @qattn package that ships native sources
//   npx qattn-build-cuda @qattn/flash-int8     that package (and, first, @qattn/cuda-runtime)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNTIME = '@qattn/cuda-runtime';
const buildNative = fileURLToPath(new URL('./build-native.mjs', import.meta.url));
const projectRequire = createRequire(path.join(process.cwd(), 'package.json'));
const runtimeRequire = createRequire(fileURLToPath(import.meta.url));

/** Directory of an installed package, from the project first, else from beside @qattn/cuda-runtime (pnpm layouts). */
function packageDir(name) {
  for (const resolver of [projectRequire, runtimeRequire]) {
    try {
      return path.dirname(resolver.resolve(`${name}/package.json`));
    } catch {}
  }
  return undefined;
}

function installedNativePackages() {
  const scopeDirs = [path.join(process.cwd(), 'node_modules', '@qattn'), path.dirname(packageDir(RUNTIME))];
  const names = new Set();
  for (const scope of scopeDirs) {
    if (!existsSync(scope)) continue;
    for (const entry of readdirSync(scope)) {
      if (existsSync(path.join(scope, entry, 'CMakeLists.txt'))) names.add(`@qattn/${entry}`);
    }
  }
  return [...names];
}

const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: npx qattn-build-cuda [@qattn/<package>...]   (no argument: every installed package with an addon)');
  process.exit(0);
}
const names = requested.length > 0 ? requested : installedNativePackages();
// Kernel packages load @qattn/cuda-runtime's addon too: build it first when it has no loadable addon of its own.
const ordered = [RUNTIME, ...names.filter((name) => name !== RUNTIME)];
let status = 0;
for (const name of ordered) {
  const dir = packageDir(name);
  if (!dir) {
    console.error(`[qattn-build-cuda] ${name} is not installed in ${process.cwd()}`);
    status = 1;
    continue;
  }
  if (!existsSync(path.join(dir, 'CMakeLists.txt'))) {
    console.error(`[qattn-build-cuda] ${name} has no CUDA addon to build`);
    status = 1;
    continue;
  }
  console.log(`[qattn-build-cuda] ${name} (${dir})`);
  const result = spawnSync(process.execPath, [buildNative], {
    cwd: dir,
    stdio: 'inherit',
    env: { ...process.env, QATTN_REQUIRE_NATIVE: '1' },
  });
  if (result.status !== 0) status = 1;
}
process.exit(status);
