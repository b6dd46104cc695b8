export { createRng } from '@qattn/quant-core';

/** Standard normal samples from a uniform generator (Box–Muller; the second value of each pair is kept). */
export function createNormal(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const out = spare;
      spare = undefined;
      return out;
    }
    // 1 − u keeps the logarithm's argument in (0, 1].
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** Student-t samples with `nu` degrees of freedom (integer): normal / sqrt(chi²_ν / ν). Heavy tails for ν ≈ 4. */
export function createStudentT(normal: () => number, nu: number): () => number {
  return () => {
    let chi2 = 0;
    for (let i = 0; i < nu; i++) {
      const z = normal();
      chi2 += z * z;
    }
    return normal() / Math.sqrt(chi2 / nu);
  };
}
