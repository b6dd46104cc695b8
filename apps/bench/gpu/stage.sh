#!/usr/bin/env bash
# Stages everything the GPU host needs to run qattn-bench into one folder (default <repo>/.gpu, git-ignored):
#   node-v20.20.2-linux-x64.xz   the Node binary (unpacked ON the host by run-on-gpu-host.sh)
#   run-on-gpu-host.sh           the command the host runs
#   gl/*.deb                     Vulkan/GLVND loaders for WebGPU through Dawn (optional)
#   bench/dist/qattn-bench.mjs   the bench with every @qattn package bundled in
#   bench/build/Release/*.node   every built CUDA addon of the workspace (found by the bundled packages there)
#   bench/node_modules/webgpu    Dawn for linux-x64 only (optional, QATTN_STAGE_WEBGPU=0 leaves it out)
#   bench/peers/sdpa_peers.py    the PyTorch peers script
#   bench/meta.env               git commit and package versions (no .git and no package.json files on the host)
#   bench/package.json           marks bench/ as the bundle's package root, where the addons are looked up
# Usage (on the build machine, after the CUDA addons are built): bash apps/bench/gpu/stage.sh [out-dir]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
out=$(mkdir -p "${1:-$repo/.gpu}" && cd "${1:-$repo/.gpu}" && pwd)
gpu_host=${QATTN_GPU_HOST_DIR:-$repo/../shared/gpu-host}
cd "$repo"

pnpm exec turbo run build --filter=@qattn/bench... --output-logs=errors-only
rm -rf "$out/bench"
mkdir -p "$out/bench/build/Release" "$out/bench/peers"
(cd apps/bench && QATTN_GPU_BUNDLE_DIR="$out/bench/dist" pnpm exec tsup --config gpu/tsup.gpu.config.ts --silent)
cp apps/bench/peers/sdpa_peers.py "$out/bench/peers/"
# The bundled packages look for their addons under the nearest folder with a package.json: make that bench/.
node -e "const p = require('./apps/bench/package.json'); console.log(JSON.stringify({ name: p.name + '-gpu-bundle', version: p.version, private: true, type: 'module' }, null, 2))" > "$out/bench/package.json"
cp apps/bench/gpu/run-on-gpu-host.sh "$out/"
chmod +x "$out/run-on-gpu-host.sh"
[ -f "$out/node-v20.20.2-linux-x64.xz" ] || cp "$gpu_host/node-v20.20.2-linux-x64.xz" "$out/"
if [ -d "$gpu_host/gl" ]; then mkdir -p "$out/gl" && cp "$gpu_host"/gl/*.deb "$out/gl/"; fi

addons=$(find packages -path '*/build/Release/*.node' -not -path '*/node_modules/*' | sort)
for addon in $addons; do cp "$addon" "$out/bench/build/Release/"; done
echo "addons: ${addons:-none (the CUDA backends will report themselves unavailable)}"

if [ "${QATTN_STAGE_WEBGPU:-1}" = 1 ]; then
  webgpu=$(node -e "console.log(require('node:path').dirname(require.resolve('webgpu/package.json', {paths: ['packages/webgpu-runtime']})))" 2>/dev/null || true)
  if [ -n "$webgpu" ]; then
    mkdir -p "$out/bench/node_modules/webgpu/dist"
    cp "$webgpu/package.json" "$out/bench/node_modules/webgpu/"
    find "$webgpu" -maxdepth 1 -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) -exec cp {} "$out/bench/node_modules/webgpu/" \;
    cp -r "$webgpu/dist/linux-x64" "$out/bench/node_modules/webgpu/dist/" 2>/dev/null || true
    find "$webgpu/dist" -maxdepth 1 -type f -exec cp {} "$out/bench/node_modules/webgpu/dist/" \;
  fi
fi

versions=$(node -e "
const out = {};
for (const p of ['bench', 'quant-core', 'reference', 'flash-int8', 'turbo-attn']) {
  const dir = p === 'bench' ? 'apps/bench' : 'packages/' + p;
  try { out['@qattn/' + p] = require('./' + dir + '/package.json').version; } catch { out['@qattn/' + p] = 'unknown'; }
}
console.log(JSON.stringify(out));")
commit=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"
printf "export QATTN_GIT_COMMIT='%s'\nexport QATTN_BENCH_VERSIONS='%s'\nexport QATTN_BENCH_VERSION='%s'\n" \
  "$commit" "$versions" "$(node -p "require('./apps/bench/package.json').version")" > "$out/bench/meta.env"
du -sh "$out"
