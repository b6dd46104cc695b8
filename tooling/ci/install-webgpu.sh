#!/usr/bin/env bash
# Installs a system-wide software WebGPU adapter for CI on a fresh Debian 12 (bookworm) machine, plus the headless
# Chromium the browser test drives. Run as root; idempotent.
#
# Why Mesa from bookworm-backports: Dawn (npm `webgpu`) rejects bookworm's Mesa 22 lavapipe (too old a Vulkan 1.3
# feature set); Mesa 25 lavapipe from backports is accepted and offers shader-f16 and subgroups. The ICD lands in
# /usr/share/vulkan/icd.d, where the Vulkan loader looks by default, so Node finds the adapter with no env vars.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    exec sudo -E bash "$0" "$@"
  fi
  echo "install-webgpu.sh: run as root (apt-get installs system packages)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
. /etc/os-release
codename="${VERSION_CODENAME:-bookworm}"

backports_file=/etc/apt/sources.list.d/qattn-backports.sources
if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > "$backports_file" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: ${codename}-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

apt-get update -q
apt-get install -y -q --no-install-recommends -t "${codename}-backports" mesa-vulkan-drivers libvulkan1
apt-get install -y -q --no-install-recommends chromium

# Fail here, not in the test run, when the ICD is missing.
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  echo "install-webgpu.sh: lavapipe ICD not found in /usr/share/vulkan/icd.d" >&2
  exit 1
fi
echo "install-webgpu.sh: $(dpkg-query -W -f='mesa-vulkan-drivers ${Version}' mesa-vulkan-drivers), $(chromium --version 2>/dev/null || echo 'chromium ?')"
