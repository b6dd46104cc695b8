// Entry of the GPU-host test bundle: the same suite as test/cuda.test.ts, under node:test, for hosts that have Node
// but no pnpm/vitest (bundle it with esbuild, platform node, format esm).
import { describe, it } from 'node:test';
import { defineTurboCudaSuite } from '../cuda.suite.js';

defineTurboCudaSuite({ describe, it });
