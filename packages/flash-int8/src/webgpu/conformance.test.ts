import { compare, type ConformanceCase, defineConformanceSuite } from '@qattn/reference';
import { describe, it } from 'vitest';
import { flashInt8Attention } from '../index.js';
import type { FlashInt8Options } from '../options.js';
import { gpuForTests } from './webgpu-test-env.js';

/** The same float64 accuracy bars as the CPU backend (issue 2), per P·V precision. */
const BARS = {
  int8: { llm: 0.02, sharp: 0.03, uniform: 0.002 },
  fp16: { llm: 0.015, sharp: 0.025, uniform: 0.002 },
} as const;

/**
 * Agreement with the CPU oracle (relative L2). Both run the same integer arithmetic on the same codes; they differ only
 * in float rounding (f32 scales and exp2 on the GPU, f64 on the CPU), which can flip a rounding tie of a P code.
 * Measured: 1.4e-7 to 8.7e-5 (lavapipe and the NVIDIA Vulkan driver agree to the digit); the bound leaves room for a few
 * more flipped codes on other drivers.
 */
const ORACLE_AGREEMENT = 5e-4;

function bound(pv: keyof typeof BARS, testCase: ConformanceCase): number {
  const bars = BARS[pv];
  if (testCase.data === 'uniform') return bars.uniform;
  return testCase.sharpness > 1 ? bars.sharp : bars.llm;
}

const { context } = await gpuForTests();

if (context) {
  for (const pv of ['int8', 'fp16'] as const) {
    defineConformanceSuite({
      name: `flash-int8 webgpu (pv: '${pv}', default levers)`,
      async run(q, k, v, shape, options) {
        const out = await flashInt8Attention(q, k, v, shape, { ...options, backend: 'webgpu', pv } as FlashInt8Options);
        const oracle = await flashInt8Attention(q, k, v, shape, { ...options, backend: 'cpu', pv } as FlashInt8Options);
        const { relL2 } = compare(out, oracle);
        if (!(relL2 <= ORACLE_AGREEMENT)) {
          throw new Error(`webgpu disagrees with the CPU oracle: relative L2 ${relL2.toExponential(3)} > ${ORACLE_AGREEMENT}`);
        }
        return out;
      },
      bound: (testCase) => bound(pv, testCase),
      test: { describe, it },
    });
  }
} else {
  describe.skip('flash-int8 webgpu conformance (no WebGPU adapter)', () => {
    it('needs an adapter', () => {});
  });
}
