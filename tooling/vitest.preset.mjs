// Shared vitest preset. Each package writes a JSON report that tooling/scripts/summarize-tests.mjs folds into one
// "N passed, N failed, N skipped" line for CI.
import { defineConfig } from 'vitest/config';

/**
 * @param {import('vitest/config').UserConfig['test']} [overrides]
 */
export function qattnVitest(overrides = {}) {
  return defineConfig({
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 120_000,
      hookTimeout: 120_000,
      reporters: ['default', 'json'],
      outputFile: { json: '.vitest-reports/report.json' },
      ...overrides,
    },
  });
}
