import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';

/**
 * Bundles for a GPU host with no node_modules (gpu/stage.sh), each one self-contained ESM file in
 * `$QATTN_GPU_BUNDLE_DIR`:
 * - `qattn-bench.mjs`: the CLI with every @qattn package inlined (every preset, the sanitizer workload included);
 * - `<package>.gpu-tests.mjs`: each `packages/<package>/test/gpu/gpu-tests.ts` that exists, the package's node:test
 *   entry for hosts without vitest;
 * - `qattn-fuzz.mjs`, `qattn-soak.mjs`: the fuzz and leak-soak CLIs of tests/fuzz (its gpu/entry-*.ts).
 * Addons keep working: each package finds its `.node` file at `<package root>/build/Release/`, and inside a bundle the
 * package root is the nearest folder with a package.json above it, so stage.sh copies every addon into
 * `<stage>/bench/build/Release/` next to a stand-in `<stage>/bench/package.json`. `webgpu` (Dawn) is resolved at run
 * time from `<stage>/bench/node_modules`; vega, vega-lite and resvg stay out (plots are rendered from the JSON later).
 */
const packagesDir = fileURLToPath(new URL('../../../packages/', import.meta.url));
const testEntries = Object.fromEntries(
  readdirSync(packagesDir)
    .filter((name) => existsSync(`${packagesDir}${name}/test/gpu/gpu-tests.ts`))
    .map((name) => [`${name}.gpu-tests`, `${packagesDir}${name}/test/gpu/gpu-tests.ts`]),
);
const fuzzDir = fileURLToPath(new URL('../../../tests/fuzz/gpu/', import.meta.url));
const fuzzEntries = Object.fromEntries(
  ['fuzz', 'soak'].filter((cli) => existsSync(`${fuzzDir}entry-${cli}.ts`)).map((cli) => [`qattn-${cli}`, `${fuzzDir}entry-${cli}.ts`]),
);

export default defineConfig({
  entry: { 'qattn-bench': 'gpu/entry.ts', ...testEntries, ...fuzzEntries },
  outDir: process.env.QATTN_GPU_BUNDLE_DIR ?? '../../.gpu/bench/dist',
  format: ['esm'],
  outExtension: () => ({ js: '.mjs' }),
  platform: 'node',
  target: 'node20',
  dts: false,
  sourcemap: false,
  clean: true,
  splitting: false,
  // tsup strips `node:` by default, but `node:test` has no bare name: keep every builtin specifier as written.
  removeNodeProtocol: false,
  // Kernel packages may import their WGSL as text.
  loader: { '.wgsl': 'text' },
  // Everything inlined except what is loaded on demand (plots) or resolved at run time (Dawn).
  noExternal: [/^(?!vega$|vega-lite$|@resvg\/resvg-js$|webgpu$)/],
  external: ['vega', 'vega-lite', '@resvg/resvg-js', 'webgpu'],
  // CommonJS dependencies (cli-progress, cli-table3) call require() for node builtins; ESM has no require.
  banner: { js: "import { createRequire as __qattnCreateRequire } from 'node:module'; const require = __qattnCreateRequire(import.meta.url);" },
});
