import { qattnVitest } from '@qattn/tooling/vitest';

export default qattnVitest();
