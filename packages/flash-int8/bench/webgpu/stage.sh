#!/usr/bin/env bash
# Stages the WebGPU benchmark (src/webgpu/bench-webgpu.ts) for a CUDA host that has no Node.js and no Vulkan loader
# (../shared/gpu-host/README.md) into .gpu/webgpu/: one bundled .mjs, Dawn's linux-x64 addon, the GL/Vulkan loader
# .debs, and run.sh. Carry `.gpu/webgpu` and `.gpu/node-v20.20.2-linux-x64.xz`; on the host: `bash .gpu/webgpu/run.sh`.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
host_files=${QATTN_GPU_HOST_FILES:-$root/../shared/gpu-host}
stage=$root/.gpu/webgpu
dawn=$(cd "$root/packages/webgpu-runtime" && node -p "require('node:path').dirname(require.resolve('webgpu/package.json'))")

rm -rf "$stage"
mkdir -p "$stage/node_modules/webgpu/dist/linux-x64" "$stage/gl"
(cd "$root/packages/flash-int8" && npx esbuild src/webgpu/bench-webgpu.ts --bundle --platform=node --format=esm --target=node20 \
  --loader:.wgsl=text --external:webgpu --log-level=warning --outfile="$stage/bench-webgpu.mjs")
cp "$dawn/index.js" "$dawn/package.json" "$stage/node_modules/webgpu/"
# Only the linux-x64 addon: the other platforms' builds would push the carried tree past its size limit.
cp "$dawn/dist/linux-x64/dawn.node" "$stage/node_modules/webgpu/dist/linux-x64/"
cp "$host_files"/gl/*.deb "$stage/gl/"
[ -f "$root/.gpu/node-v20.20.2-linux-x64.xz" ] || cp "$host_files/node-v20.20.2-linux-x64.xz" "$root/.gpu/"
cat > "$stage/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU host, from the repository root: bash .gpu/webgpu/run.sh [bench args...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for f in "$here"/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
# The host's NVIDIA ICD lives outside the loader's default search path.
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
[ -x /tmp/node ] || { xz -dc "$here/../node-v20.20.2-linux-x64.xz" > /tmp/node; chmod +x /tmp/node; }
cd "$here" && /tmp/node bench-webgpu.mjs "$@"
RUN
chmod +x "$stage/run.sh"
du -sh "$stage" "$root/.gpu/node-v20.20.2-linux-x64.xz"
