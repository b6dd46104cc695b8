import { defineConfig } from 'tsup';

/**
 * Bundles the bench and every @qattn package into one ESM file for a host with no node_modules. Addons keep
 * working: each package finds its `.node` file at `<package root>/build/Release/`, and inside the bundle the package
 * root is the bundle's parent folder, so gpu/stage.sh copies every addon into `<stage>/bench/build/Release/`.
 * `webgpu` (Dawn) is imported by a computed specifier and resolved at run time from `<stage>/bench/node_modules`.
 */
export default defineConfig({
  entry: { 'qattn-bench': 'gpu/entry.ts' },
  outDir: process.env.QATTN_GPU_BUNDLE_DIR ?? '../../.gpu/bench/dist',
  format: ['esm'],
  outExtension: () => ({ js: '.mjs' }),
  platform: 'node',
  target: 'node20',
  dts: false,
  sourcemap: false,
  clean: true,
  splitting: false,
  // Everything inlined except what is loaded on demand (plots) or resolved at run time (Dawn).
  noExternal: [/^(?!vega$|vega-lite$|@resvg\/resvg-js$|webgpu$)/],
  external: ['vega', 'vega-lite', '@resvg/resvg-js', 'webgpu'],
  // CommonJS dependencies (cli-progress, cli-table3) call require() for node builtins; ESM has no require.
  banner: { js: "import { createRequire as __qattnCreateRequire } from 'node:module'; const require = __qattnCreateRequire(import.meta.url);" },
});
