import { qattnTsup } from '@qattn/tooling/tsup';

// The two CLIs (bin/*.mjs import them) and the library the vitest files share; private, so ESM only and no types.
export default qattnTsup({ entry: { index: 'src/index.ts', fuzz: 'src/cli-fuzz.ts', soak: 'src/soak.ts' }, format: ['esm'], dts: false });
