// Entry of the single-file qattn-fuzz bundle for a GPU host without pnpm (apps/bench/gpu/stage.sh bundles it).
import { main } from '../src/cli-fuzz.js';

process.exitCode = await main(process.argv.slice(2));
