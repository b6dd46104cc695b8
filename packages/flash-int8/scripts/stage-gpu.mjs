#!/usr/bin/env node
// Stages what a GPU host without pnpm needs into <repo>/.gpu (git-ignored; the device tool carries it):
// bundled node:test suites, the benchmark and sanitizer workloads, both CUDA addons, the Node binary, the Python
// baselines and run.sh. Run after `pnpm exec turbo run build --filter=@qattn/flash-int8...`.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repo = path.resolve(packageDir, '../..');
const stage = path.join(repo, '.gpu');
mkdirSync(stage, { recursive: true });

const entries = {
  'gpu-tests': 'test/gpu/gpu-tests.ts',
  'bench-cuda': 'bench/bench-cuda.ts',
  sanitize: 'bench/sanitize.ts',
  'profile-one': 'bench/profile-one.ts',
};
for (const [name, entry] of Object.entries(entries)) {
  await build({
    entryPoints: [path.join(packageDir, entry)],
    outfile: path.join(stage, `${name}.mjs`),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['webgpu'],
    loader: { '.wgsl': 'text' },
    banner: { js: "import { createRequire as __qattnCreateRequire } from 'node:module'; const require = __qattnCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}

const addons = [
  path.join(repo, 'packages/cuda-runtime/build/Release/qattn_cuda_runtime.node'),
  path.join(packageDir, 'build/Release/qattn_flash_int8.node'),
];
for (const addon of addons) {
  if (!existsSync(addon)) throw new Error(`${addon} is missing: build with nvcc first (pnpm --filter @qattn/flash-int8... build)`);
  copyFileSync(addon, path.join(stage, path.basename(addon)));
}
for (const file of ['sdpa_bench.py', 'report.py']) copyFileSync(path.join(packageDir, 'bench', file), path.join(stage, file));
const nodeXz = '/work/shared/gpu-host/node-v20.20.2-linux-x64.xz';
if (!existsSync(path.join(stage, path.basename(nodeXz)))) copyFileSync(nodeXz, path.join(stage, path.basename(nodeXz)));
copyFileSync(path.join(packageDir, 'bench', 'run-gpu.sh'), path.join(stage, 'run.sh'));
writeFileSync(path.join(stage, 'README.txt'), 'Staged by packages/flash-int8/scripts/stage-gpu.mjs; run: bash .gpu/run.sh (OUT=<log dir>)\n');
console.log(`staged ${stage}`);
