import { qattnTsup } from '@qattn/tooling/tsup';

export default qattnTsup();
