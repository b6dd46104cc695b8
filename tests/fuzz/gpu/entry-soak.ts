// Entry of the single-file qattn-soak bundle for a GPU host without pnpm (gpu/stage.sh).
import { main } from '../src/soak.js';

process.exitCode = await main(process.argv.slice(2));
