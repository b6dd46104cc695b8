// Entry of the GPU-host test bundle (.gpu/bench/dist/flash-int8.gpu-tests.mjs, built by apps/bench/gpu/stage.sh):
// the same suites as the vitest files, under node:test, for hosts that have Node but no pnpm/vitest.
import { describe, it } from 'node:test';
import { defineRuntimeSuite } from '../../../cuda-runtime/test/runtime.suite.js';
import { defineCudaSuite } from '../cuda.suite.js';
import { defineSubgroupMatrixSuite, subgroupMatrixTestContext } from './subgroup-matrix.suite.js';

defineRuntimeSuite({ describe, it });
defineCudaSuite({ describe, it });
defineSubgroupMatrixSuite({ describe, it }, await subgroupMatrixTestContext());
