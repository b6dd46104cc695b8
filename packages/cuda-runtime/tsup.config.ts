import type { Plugin } from 'esbuild';
import { defineConfig } from 'tsup';
import { qattnTsup } from '@qattn/tooling/tsup';

// The browser build swaps the one module that needs Node built-ins for its stub (src/node-loader.browser.ts).
const browserLoader: Plugin = {
  name: 'qattn-browser-loader',
  setup(build) {
    build.onResolve({ filter: /\/node-loader\.js$/ }, (args) => ({
      path: new URL('./src/node-loader.browser.ts', import.meta.url).pathname,
    }));
  },
};

export default defineConfig([
  // shims: import.meta.url in the CJS build, which locates build/Release/*.node.
  qattnTsup({ shims: true }) as object,
  qattnTsup({ entry: { browser: 'src/index.ts' }, format: ['esm'], dts: false, clean: false, platform: 'browser', esbuildPlugins: [browserLoader] }) as object,
]);
