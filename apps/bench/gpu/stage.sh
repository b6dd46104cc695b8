#!/usr/bin/env bash
# Stages everything a GPU host without pnpm (or network) needs to test, sanitize, profile and benchmark qattn into one
# folder, default <repo>/.gpu (git-ignored; the device tool carries it):
#   run-on-gpu-host.sh                 the one command the host runs (modes: tests, sanitize, sass, profile, bench, all)
#   node-v20.20.2-linux-x64.xz         the Node binary, unpacked on the host
#   gl/*.deb                           Vulkan/GLVND loaders for WebGPU through Dawn (unpacked on the host, as root)
#   bench/dist/qattn-bench.mjs         the bench CLI with every @qattn package bundled in (all presets, the
#                                      compute-sanitizer workload `--preset sanitize` included)
#   bench/dist/<pkg>.gpu-tests.mjs     every packages/<pkg>/test/gpu/gpu-tests.ts, bundled for node:test
#   bench/dist/qattn-{fuzz,soak}.mjs   the fuzz and leak-soak CLIs of tests/fuzz
#   bench/build/Release/*.node.xz      every built CUDA addon of the workspace, xz-compressed
#   bench/node_modules/webgpu/         Dawn for linux-x64 only, its dawn.node xz-compressed
#   bench/node_modules/onnxruntime-web/ its WebGPU ESM bundle and wasm (the `--peers` WebGPU attention peer)
#   bench/peers/sdpa_peers.py          the PyTorch SDPA peers; bench/sass_counts.py, the static SASS counts
#   bench/meta.env                     git commit and package versions (the host has no .git and no package.json files)
#   bench/package.json                 marks bench/ as the bundles' package root, where the addons are looked up
#   bench/probe/*.xz                   with QATTN_STAGE_PROBES=1: the decode kernel's timeline probe
#                                      (packages/turbo-attn/native/probe), plain and with the warm-merge hooks
# Host files (Node, loader debs) come from $QATTN_GPU_HOST_DIR, default <repo>/../shared/gpu-host.
# Usage: bash apps/bench/gpu/stage.sh [out-dir]. Builds the workspace first (the CUDA addons too where nvcc is;
# QATTN_SKIP_NATIVE=1 skips them and stages whatever addons are already built). QATTN_STAGE_WEBGPU=0 leaves Dawn out.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
out=$(mkdir -p "${1:-$repo/.gpu}" && cd "${1:-$repo/.gpu}" && pwd)
gpu_host=${QATTN_GPU_HOST_DIR:-$repo/../shared/gpu-host}
node_xz=node-v20.20.2-linux-x64.xz
cd "$repo"

[ -f "$gpu_host/$node_xz" ] || { echo "stage: $gpu_host/$node_xz is missing (set QATTN_GPU_HOST_DIR)" >&2; exit 1; }
pnpm exec turbo run build --filter=@qattn/bench... --filter=@qattn/fuzz... --output-logs=errors-only

rm -rf "$out/bench"
mkdir -p "$out/bench/build/Release" "$out/bench/peers"
(cd apps/bench && QATTN_GPU_BUNDLE_DIR="$out/bench/dist" pnpm exec tsup --config gpu/tsup.gpu.config.ts --silent)
cp apps/bench/peers/sdpa_peers.py "$out/bench/peers/"
cp apps/bench/gpu/sass_counts.py "$out/bench/"
# The bundled packages look for their addons under the nearest folder with a package.json: make that bench/.
node -e "const p = require('./apps/bench/package.json'); console.log(JSON.stringify({ name: p.name + '-gpu-bundle', version: p.version, private: true, type: 'module' }, null, 2))" > "$out/bench/package.json"
cp apps/bench/gpu/run-on-gpu-host.sh "$out/"
chmod +x "$out/run-on-gpu-host.sh"
[ -f "$out/$node_xz" ] || cp "$gpu_host/$node_xz" "$out/"
rm -rf "$out/gl"
if [ -d "$gpu_host/gl" ]; then mkdir -p "$out/gl" && cp "$gpu_host"/gl/*.deb "$out/gl/"; fi

# xz: the addons carry their fat binaries (sm_90a, sm_80, PTX) and compress ~4x; the host unpacks them once.
addons=$(find packages -path '*/build/Release/*.node' -not -path '*/node_modules/*' | sort)
for addon in $addons; do xz -T0 -6 -c "$addon" > "$out/bench/build/Release/$(basename "$addon").xz"; done
echo "addons: ${addons:-none (the CUDA backends will report themselves unavailable)}" | tr '\n' ' '; echo

if [ "${QATTN_STAGE_WEBGPU:-1}" = 1 ]; then
  webgpu=$(node -e "console.log(require('node:path').dirname(require.resolve('webgpu/package.json', {paths: ['packages/webgpu-runtime']})))" 2>/dev/null || true)
  if [ -n "$webgpu" ] && [ -f "$webgpu/dist/linux-x64/dawn.node" ]; then
    # Only the linux-x64 build: the other platforms' Dawn binaries would push the folder past the carry limit.
    mkdir -p "$out/bench/node_modules/webgpu/dist/linux-x64"
    find "$webgpu" -maxdepth 1 -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' -o -name 'package.json' \) -exec cp {} "$out/bench/node_modules/webgpu/" \;
    xz -T0 -6 -c "$webgpu/dist/linux-x64/dawn.node" > "$out/bench/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
  else
    echo "stage: webgpu (Dawn) not found; WebGPU will be unavailable on the host" >&2
  fi
  # onnxruntime-web, the WebGPU attention peer of `--peers`: its self-contained ESM bundle and the one wasm that
  # bundle loads (the WebGPU EP build), xz-compressed like the addons.
  ort=$(node -e "console.log(require('node:path').resolve(require.resolve('onnxruntime-web/webgpu', {paths: ['apps/bench']}), '../..'))" 2>/dev/null || true)
  if [ -n "$ort" ] && [ -f "$ort/dist/ort.webgpu.bundle.min.mjs" ]; then
    ortOut=$out/bench/node_modules/onnxruntime-web
    mkdir -p "$ortOut/dist"
    cp "$ort/package.json" "$ortOut/"
    cp "$ort/dist/ort.webgpu.bundle.min.mjs" "$ort/dist/ort-wasm-simd-threaded.asyncify.mjs" "$ortOut/dist/"
    xz -T0 -6 -c "$ort/dist/ort-wasm-simd-threaded.asyncify.wasm" > "$ortOut/dist/ort-wasm-simd-threaded.asyncify.wasm.xz"
  else
    echo "stage: onnxruntime-web not found; the onnxruntime-web peer will be unavailable on the host" >&2
  fi
fi

# The decode timeline probe: standalone sm_90a programs (about a minute of nvcc each), so only on request.
if [ "${QATTN_STAGE_PROBES:-0}" = 1 ] && command -v nvcc > /dev/null; then
  mkdir -p "$out/bench/probe"
  probe_src=packages/turbo-attn/native/probe/decode_timeline.cu
  probe_flags=(-std=c++17 -O3 --expt-relaxed-constexpr -gencode arch=compute_90a,code=sm_90a -I packages/cuda-runtime/native/include
    -I packages/turbo-attn/build/qattn_generated)
  nvcc "${probe_flags[@]}" -o "$out/bench/probe/decode_timeline" "$probe_src"
  nvcc "${probe_flags[@]}" -DQATTN_DECODE_PROBE_WARM_MERGE -o "$out/bench/probe/decode_timeline_warm" "$probe_src"
  xz -T0 -9 -f "$out/bench/probe/decode_timeline" "$out/bench/probe/decode_timeline_warm"
fi

versions=$(node -e "
const out = {};
for (const p of ['bench', 'quant-core', 'reference', 'flash-int8', 'turbo-attn', 'kv-cache', 'cuda-runtime', 'webgpu-runtime']) {
  const dir = p === 'bench' ? 'apps/bench' : 'packages/' + p;
  try { out['@qattn/' + p] = require('./' + dir + '/package.json').version; } catch { out['@qattn/' + p] = 'unknown'; }
}
console.log(JSON.stringify(out));")
commit=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"
printf "export QATTN_GIT_COMMIT='%s'\nexport QATTN_BENCH_VERSIONS='%s'\nexport QATTN_BENCH_VERSION='%s'\n" \
  "$commit" "$versions" "$(node -p "require('./apps/bench/package.json').version")" > "$out/bench/meta.env"
ls "$out/bench/dist"
du -sh "$out"
