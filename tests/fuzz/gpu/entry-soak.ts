// Entry of the single-file qattn-soak bundle for a GPU host without pnpm (apps/bench/gpu/stage.sh bundles it).
import { main } from '../src/soak.js';

process.exitCode = await main(process.argv.slice(2));
