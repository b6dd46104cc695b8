#!/usr/bin/env node
// qattn-soak: see tests/fuzz/README.md. The CLI is built by tsup into ../dist (`pnpm turbo run build --filter=@qattn/fuzz...`).
import { main } from '../dist/soak.js';

process.exitCode = await main(process.argv.slice(2));
