#!/usr/bin/env bash
# Stages the long fuzz and soak runs for a CUDA host without Node.js or pnpm: apps/bench/gpu/stage.sh (Node, the
# addons, Dawn, the bench and GPU-test bundles), then qattn-fuzz.mjs and qattn-soak.mjs beside the bench bundles and
# run-fuzz-on-gpu-host.sh at the top. Usage: bash tests/fuzz/gpu/stage.sh [out-dir] (default <repo>/.gpu).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
out=$(mkdir -p "${1:-$repo/.gpu}" && cd "${1:-$repo/.gpu}" && pwd)
cd "$repo"
bash apps/bench/gpu/stage.sh "$out"
pnpm exec turbo run build --filter=@qattn/fuzz... --output-logs=errors-only
(cd tests/fuzz && QATTN_GPU_BUNDLE_DIR="$out/bench/dist" pnpm exec tsup --config gpu/tsup.gpu.config.ts --silent)
cp tests/fuzz/gpu/run-fuzz-on-gpu-host.sh "$out/"
chmod +x "$out/run-fuzz-on-gpu-host.sh"
ls "$out/bench/dist"
du -sh "$out"
