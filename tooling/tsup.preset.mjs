// Shared tsup preset: every published @qattn package ships ESM + CJS + .d.ts from src/index.ts.
import { defineConfig } from 'tsup';

/**
 * @param {import('tsup').Options} [overrides] per-package additions (extra entries, loaders for .wgsl, externals)
 */
export function qattnTsup(overrides = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    treeshake: true,
    ...overrides,
  });
}
