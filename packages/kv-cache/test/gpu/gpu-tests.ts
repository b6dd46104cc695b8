// Entry of the GPU-host test bundle: the same suite as test/cuda.test.ts, under node:test, for hosts that have Node
// but no pnpm/vitest (apps/bench/gpu/tsup.gpu.config.ts bundles every packages/*/test/gpu/gpu-tests.ts).
import { describe, it } from 'node:test';
import { defineKVCacheCudaSuite } from '../cuda.suite.js';

defineKVCacheCudaSuite({ describe, it });
