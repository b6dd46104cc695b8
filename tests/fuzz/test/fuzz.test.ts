// The short fuzz run of `pnpm test`: a few dozen seeded cases (profile ci) on cpu and, where an adapter exists (always
// under CI=true or QATTN_EXPECT_WEBGPU=1), webgpu. Replay one case with QATTN_FUZZ_SEED and QATTN_FUZZ_CASE; a
// failure prints both, and the CLI command that reruns it.
import { gpuForTests } from '@qattn/webgpu-runtime';
import { describe, expect, it } from 'vitest';
import { type Backend, describeCase, failureLines, fuzzCase, probeBackends, runFuzzCase } from '../src/index.js';

/** Cases of the CI run: 39 = 3 × 13, so every edge kind comes up once (every third case is an edge case). */
const CI_CASES = 39;
/** The CI run's seed, fixed so that `pnpm test` is reproducible; the CLI draws a new one per run. */
const CI_SEED = 12;

const seed = process.env.QATTN_FUZZ_SEED ? Number(process.env.QATTN_FUZZ_SEED) : CI_SEED;
const only = process.env.QATTN_FUZZ_CASE;
const indices = only !== undefined && only !== '' ? [Number(only)] : Array.from({ length: CI_CASES }, (_, i) => i);

const { context } = await gpuForTests();
const requested: Backend[] = context ? ['cpu', 'webgpu'] : ['cpu'];
const probe = await probeBackends(requested);

describe(`fuzz (profile ci, seed ${seed}, backends ${probe.available.join(', ')})`, () => {
  it('every requested backend loads', () => {
    expect(probe.missing).toEqual([]);
  });
  for (const index of indices) {
    const c = fuzzCase(seed, index, 'ci');
    it(describeCase(c), async () => {
      const results = await runFuzzCase(c, probe.available, probe.facts);
      const failures = results.filter((r) => r.status === 'fail');
      if (failures.length > 0) {
        const lines = failures.map(failureLines).join('\n');
        throw new Error(`${lines}\n  (or: QATTN_FUZZ_SEED=${seed} QATTN_FUZZ_CASE=${index} pnpm --filter @qattn/fuzz exec vitest run test/fuzz.test.ts)`);
      }
      // Every algorithm answered on every backend: an output, or the refusal the case allows.
      expect(results.map((r) => `${r.algorithm}/${r.backend}`).sort()).toEqual(
        ['flash-int8', 'turbo-attn'].flatMap((algorithm) => probe.available.map((backend) => `${algorithm}/${backend}`)).sort(),
      );
    });
  }
});
