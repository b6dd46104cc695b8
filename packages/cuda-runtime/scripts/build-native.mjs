#!/usr/bin/env node
// Builds the CUDA addon of the package in the current directory with cmake-js, or explains why it is skipped.
// Used by @qattn/cuda-runtime and by every kernel package with a native/ folder (bin: qattn-build-native).
// Without nvcc the build succeeds without the addon, so machines without CUDA (CI, laptops) stay green; the backend
// then reports ERR_QATTN_BACKEND_UNAVAILABLE with the command below. QATTN_REQUIRE_NATIVE=1 (set by qattn-build-cuda
// and the prebuilt CI job) turns the skip into a failure: there, a missing addon is the error.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const packageDir = process.cwd();
const cudaRoots = [process.env.CUDA_PATH, process.env.CUDA_HOME, '/usr/local/cuda'].filter(Boolean);
const nvcc = cudaRoots.map((root) => path.join(root, 'bin', 'nvcc')).find((candidate) => existsSync(candidate));

if (process.env.QATTN_SKIP_NATIVE === '1' || !nvcc) {
  const why = nvcc ? 'QATTN_SKIP_NATIVE=1' : `nvcc not found under ${cudaRoots.join(', ')} (set CUDA_PATH)`;
  if (process.env.QATTN_REQUIRE_NATIVE === '1' && nvcc === undefined) {
    console.error(`[qattn-build-native] cannot build the CUDA addon of ${path.basename(packageDir)}: ${why}`);
    process.exit(1);
  }
  console.log(`[qattn-build-native] skipping the CUDA addon of ${path.basename(packageDir)}: ${why}`);
  process.exit(0);
}

const release = /release (\d+\.\d+), V([\d.]+)/.exec(execFileSync(nvcc, ['--version'], { encoding: 'utf8' }));
const cudaVersion = release ? release[2] : 'unknown';
if (process.env.QATTN_CUDA_VERSION !== cudaVersion) {
  // turbo hashes QATTN_CUDA_VERSION (root turbo.json globalEnv): without it a CUDA upgrade reuses a cached addon.
  console.log(`[qattn-build-native] note: export QATTN_CUDA_VERSION=${cudaVersion} so turbo's cache key follows the CUDA toolkit`);
}

const require = createRequire(import.meta.url);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'build', '--directory', packageDir, '--out', path.join(packageDir, 'build'), '--config', 'Release',
  `--CDCMAKE_CUDA_COMPILER=${nvcc}`, `--CDCUDAToolkit_ROOT=${path.dirname(path.dirname(nvcc))}`, ...process.argv.slice(2)];
console.log(`[qattn-build-native] building with CUDA ${cudaVersion} (${nvcc})`);
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: packageDir, env: { ...process.env, CUDA_PATH: path.dirname(path.dirname(nvcc)) } });
process.exit(result.status ?? 1);
