// Entry of the single-file bundle that travels to the GPU host (gpu/stage.sh): the CLI with every workspace package
// inlined. vega, vega-lite and resvg stay out (plots are rendered afterwards from the JSON with --from-json).
import { main } from '../src/cli.js';

process.exitCode = await main(process.argv.slice(2));
