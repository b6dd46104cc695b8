import { defineConfig } from 'tsup';

/**
 * The fuzz and soak CLIs as self-contained ESM files for a GPU host with no node_modules, written next to the bench
 * bundles of apps/bench/gpu/stage.sh (`$QATTN_GPU_BUNDLE_DIR`, default <repo>/.gpu/bench/dist) so that they find the
 * staged addons (bench/build/Release, the package root of every bundle there) and Dawn (bench/node_modules) the same
 * way. Settings as apps/bench/gpu/tsup.gpu.config.ts; `clean` stays off, the folder holds the bench's bundles too.
 */
export default defineConfig({
  entry: { 'qattn-fuzz': 'gpu/entry-fuzz.ts', 'qattn-soak': 'gpu/entry-soak.ts' },
  outDir: process.env.QATTN_GPU_BUNDLE_DIR ?? '../../.gpu/bench/dist',
  format: ['esm'],
  outExtension: () => ({ js: '.mjs' }),
  platform: 'node',
  target: 'node20',
  dts: false,
  sourcemap: false,
  clean: false,
  splitting: false,
  removeNodeProtocol: false,
  loader: { '.wgsl': 'text' },
  noExternal: [/^(?!webgpu$)/],
  external: ['webgpu'],
  // CommonJS dependencies (cli-table3) call require() for node builtins; ESM has no require.
  banner: { js: "import { createRequire as __qattnCreateRequire } from 'node:module'; const require = __qattnCreateRequire(import.meta.url);" },
});
