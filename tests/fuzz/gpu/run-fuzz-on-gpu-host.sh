#!/usr/bin/env bash
# The long fuzz or the soak on a CUDA host without Node.js, from a folder staged by tests/fuzz/gpu/stage.sh. Output
# goes to the terminal and to $OUT/<fuzz|soak>.log ($OUT: the device machine's output folder; ./gpu-out elsewhere).
#   bash .gpu/run-fuzz-on-gpu-host.sh fuzz [qattn-fuzz flags…]   e.g. --shapes 500 --backends cuda,webgpu,cpu --seed 1
#   bash .gpu/run-fuzz-on-gpu-host.sh soak [qattn-soak flags…]   e.g. --calls 10000 --backends cuda,webgpu,cpu
# Exit status: the CLI's (0 ok, 1 failures or a leak, 2 usage or a backend that does not load).
# Node, the addons and Dawn are unpacked exactly as apps/bench/gpu/run-on-gpu-host.sh does (same places, same
# variables), so the two scripts share /tmp/qattn-node.
set -uo pipefail
stage=$(cd "$(dirname "$0")" && pwd)
mode=${1:-}
shift || true
case "$mode" in
  fuzz | soak) ;;
  *)
    awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" >&2
    exit 2
    ;;
esac
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"

node=${QATTN_NODE:-/tmp/qattn-node}
if [ ! -x "$node" ]; then
  xz -dc "$stage/node-v20.20.2-linux-x64.xz" > "$node.tmp" && chmod +x "$node.tmp" && mv "$node.tmp" "$node"
fi
work=${QATTN_HOST_WORK:-/tmp/qattn-gpu}
rm -rf "$work" && mkdir -p "$work" && cp -r "$stage/bench" "$work/"
find "$work/bench" -name '*.xz' | while read -r packed; do xz -dc "$packed" > "${packed%.xz}" && rm "$packed"; done

# WebGPU through Dawn needs the Vulkan loader, which the NVIDIA hosts lack (see run-on-gpu-host.sh).
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ]; then
  if [ -d "$stage/gl" ] && [ "$(id -u)" = 0 ] && ! ldconfig -p | grep -q libvulkan.so.1; then
    for deb in "$stage"/gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
  fi
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$nvidia_icd}
fi

echo "# $(date -u +%FT%TZ) on $(hostname): node $("$node" --version), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)" | tee "$out/$mode.log"
"$node" "$work/bench/dist/qattn-$mode.mjs" "$@" 2>&1 | tee -a "$out/$mode.log"
exit "${PIPESTATUS[0]}"
