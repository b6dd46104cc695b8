import { qattnTsup } from '@qattn/tooling/tsup';

export default qattnTsup({ format: ['esm'], dts: false });
