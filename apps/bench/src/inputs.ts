import { createRng } from '@qattn/quant-core';
import type { InputTensors } from './algorithms.js';
import type { ApiShape, ReferencePackage } from './packages.js';
import type { DataKind } from './presets.js';

/** Where the sweep's inputs come from: `@qattn/reference`'s generator, or the bench's uniform fallback. */
export interface InputSource {
  /** `reference:<kind>` or `bench-fallback:uniform` (said in the JSON so numbers are never mislabeled). */
  name: string;
  generate(shape: ApiShape, seed: number): InputTensors;
}

/** Picks the reference generator when `@qattn/reference` exports it, otherwise a uniform [0,1) fallback. */
export function createInputSource(reference: ReferencePackage, kind: DataKind): InputSource {
  const generateInputs = reference.generateInputs;
  if (generateInputs) {
    return { name: `reference:${kind}`, generate: (shape, seed) => generateInputs(shape, { kind, seed }) };
  }
  return {
    name: 'bench-fallback:uniform',
    generate(shape, seed) {
      const kvHeads = shape.kvHeads ?? shape.heads;
      const random = createRng(seed);
      const fill = (n: number) => Float32Array.from({ length: n }, random);
      return {
        q: fill(shape.batch * shape.heads * shape.seqQ * shape.headDim),
        k: fill(shape.batch * kvHeads * shape.seqKV * shape.headDim),
        v: fill(shape.batch * kvHeads * shape.seqKV * shape.headDim),
      };
    },
  };
}
