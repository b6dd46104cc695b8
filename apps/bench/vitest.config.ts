import { qattnVitest } from '@qattn/tooling/vitest';

// The CLI tests spawn bin/qattn-bench.mjs, which runs dist/: global-setup builds it first so they never test a
// stale build.
export default qattnVitest({ globalSetup: ['test/global-setup.ts'] });
