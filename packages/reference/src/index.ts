export { attention } from './attention.js';
export { compare, type Comparison } from './compare.js';
export { createRng, createNormal, createStudentT } from './rng.js';
export { generateInputs, type AttentionInputs, type DataKind, type GenerateOptions } from './generate.js';
export {
  badInputCases,
  checkBadInputCase,
  checkConformanceCase,
  conformanceCases,
  defineConformanceSuite,
  type BadInputCase,
  type ConformanceCase,
  type ConformanceResult,
  type ConformanceTarget,
} from './conformance.js';
export {
  checkDecodeConformanceCase,
  decodeAppendChunks,
  decodeConformanceCases,
  defineDecodeConformanceSuite,
  type DecodeAppendPlan,
  type DecodeCachePrecision,
  type DecodeConformanceCase,
  type DecodeConformanceInput,
  type DecodeConformanceResult,
  type DecodeConformanceTarget,
} from './decode-conformance.js';
export { attentionRows, selectRows, type SuiteApi } from './rows.js';
