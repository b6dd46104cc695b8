// The CUDA backend from installed tarballs. argv[2]: [{ name, addon, prebuilt }] per native package. An addon whose
// platform package carries it must load from there; one without must fail naming `npx qattn-build-cuda <package>`.
// The backend then answers "no CUDA device" on this GPU-less machine when the runtime's addon is there.
import { createRequire } from 'node:module';
import path from 'node:path';
import { loadAddon, cudaAvailability } from '@qattn/cuda-runtime';
import { flashInt8Attention } from '@qattn/flash-int8';
import { turboAttention } from '@qattn/turbo-attn';

const nativePackages = JSON.parse(process.argv[2]);
const runtimePrebuilt = nativePackages.find(({ name }) => name === '@qattn/cuda-runtime')?.prebuilt === true;
const require = createRequire(path.join(process.cwd(), 'package.json'));
const fail = (message) => { console.error(`cuda-check: ${message}`); process.exit(1); };

for (const { name, addon, prebuilt } of nativePackages) {
  const dir = path.dirname(require.resolve(`${name}/package.json`));
  if (prebuilt) {
    loadAddon(dir, addon, name, 'QATTN_CONSUMER_TEST_UNSET');
    console.log(`cuda-check: ${name}: ${addon} loads from ${name}-linux-x64-gnu`);
  } else {
    try {
      loadAddon(dir, addon, name, 'QATTN_CONSUMER_TEST_UNSET');
      fail(`${name}: an addon loaded although no platform package carries one`);
    } catch (err) {
      if (!err.message.includes(`npx qattn-build-cuda ${name}`)) fail(`${name}: the error does not name the command: ${err.message}`);
    }
  }
}

const availability = cudaAvailability();
console.log(`cuda-check: cudaAvailability: ${JSON.stringify(availability)}`);
const shape = { batch: 1, heads: 2, kvHeads: 1, seqQ: 16, seqKV: 16, headDim: 64 };
const data = new Float32Array(2 * 16 * 64).fill(0.5);
for (const [name, run] of [['@qattn/flash-int8', flashInt8Attention], ['@qattn/turbo-attn', turboAttention]]) {
  try {
    await run(data, data.subarray(0, 16 * 64), data.subarray(0, 16 * 64), shape, { backend: 'cuda' });
    if (!availability.available) fail(`${name}: backend 'cuda' ran without a CUDA device`);
  } catch (err) {
    if (err.code !== 'ERR_QATTN_BACKEND_UNAVAILABLE') fail(`${name}: ${err.code ?? ''} ${err.message}`);
    const expected = runtimePrebuilt ? /no CUDA device/ : /npx qattn-build-cuda/;
    if (!expected.test(err.message)) fail(`${name}: expected ${expected}, got: ${err.message}`);
    console.log(`cuda-check: ${name} backend 'cuda': ${err.message.slice(0, 160)}`);
  }
}
