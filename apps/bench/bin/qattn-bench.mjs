#!/usr/bin/env node
// qattn-bench: see apps/bench/README.md. The CLI is built by tsup into ../dist.
import { main } from '../dist/index.js';

process.exitCode = await main(process.argv.slice(2));
