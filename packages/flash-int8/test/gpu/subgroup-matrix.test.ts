import { describe, it } from 'vitest';
import { defineSubgroupMatrixSuite, subgroupMatrixTestContext } from './subgroup-matrix.suite.js';

defineSubgroupMatrixSuite({ describe, it }, await subgroupMatrixTestContext());
