#!/usr/bin/env bash
# Release job: builds every package's CUDA addon with nvcc (sm_90a + sm_80 machine code, compute_80 PTX, static
# cudart: cuda-runtime's cmake/qattn_kernel_addon.cmake) and copies each into its per-platform package
# npm/<package>-linux-x64-gnu/, which `pnpm release` (changeset publish) then publishes next to the owner.
# Fails without nvcc: a release must never ship empty platform packages (their prepublishOnly checks it too).
# Run on a linux-x64 glibc machine with the CUDA toolkit (no GPU needed); ~4 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
node tooling/scripts/native-packages.mjs check
export QATTN_REQUIRE_NATIVE=1
mapfile -t owners < <(node -e 'for (const o of JSON.parse(process.argv[1])) console.log(o.name)' "$(node tooling/scripts/native-packages.mjs list)")
filters=()
for name in "${owners[@]}"; do filters+=(--filter "$name"); done
# --force: an addon restored from turbo's cache may come from another toolkit; a release builds from scratch.
pnpm exec turbo run build "${filters[@]}" --force --output-logs=errors-only
node tooling/scripts/native-packages.mjs copy-addons
