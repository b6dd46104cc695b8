#!/usr/bin/env bash
# Runs the paper benchmark with the PyTorch peers on a CUDA host that has no Node.js, from a folder staged by
# apps/bench/gpu/stage.sh. Writes <name>.json, <name>.md, <name>.command.txt and <name>.log into the output folder
# ($OUT on the device machine, else ./bench-out), ready to be committed as apps/bench/reports/<name>.*.
# Usage: bash .gpu/run-on-gpu-host.sh [name] [extra qattn-bench flags…]
#   e.g. bash .gpu/run-on-gpu-host.sh h200-paper
#        bash .gpu/run-on-gpu-host.sh h200-decode --preset decode      (a later --preset wins)
set -euo pipefail
stage=$(cd "$(dirname "$0")" && pwd)
name=${1:-h200-paper}
shift || true
out=${OUT:-$PWD/bench-out}
mkdir -p "$out"

node=${QATTN_NODE:-/tmp/qattn-node}
if [ ! -x "$node" ]; then
  xz -dc "$stage/node-v20.20.2-linux-x64.xz" > "$node"
  chmod +x "$node"
fi

# WebGPU through Dawn needs the Vulkan loader, which the NVIDIA hosts lack (../shared/gpu-host/README.md). Only
# there (the NVIDIA Vulkan ICD is present) and only as root are the loader packages unpacked into /.
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ]; then
  if [ -d "$stage/gl" ] && [ "$(id -u)" = 0 ] && ! ldconfig -p | grep -q libvulkan.so.1; then
    for deb in "$stage"/gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
  fi
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$nvidia_icd}
fi

# shellcheck source=/dev/null
[ -f "$stage/bench/meta.env" ] && source "$stage/bench/meta.env"
export QATTN_PEERS_SCRIPT="$stage/bench/peers/sdpa_peers.py"

args=(--preset paper --peers --no-progress --json "$out/$name.json" --md "$out/$name.md" "$@")
printf 'qattn-bench %s\n' "${args[*]//$out\//}" > "$out/$name.command.txt"
{
  echo "# $(date -u +%FT%TZ) on $(hostname): $("$node" --version), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
  "$node" "$stage/bench/dist/qattn-bench.mjs" "${args[@]}"
} 2>&1 | tee "$out/$name.log"
