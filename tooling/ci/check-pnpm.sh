#!/usr/bin/env bash
# The packageManager pin must install with the pnpm the README installs (the pinned 10.x) and with the newest pnpm a
# user may have (npm's `latest`, 12.x today): each installs into a temporary prefix and runs
# `pnpm install --frozen-lockfile` in a copy of this checkout (tracked and untracked, non-ignored files).
set -euo pipefail
cd "$(dirname "$0")/../.."
pinned=$(node -p 'require("./package.json").packageManager.replace(/^pnpm@/, "")')
latest=${QATTN_PNPM_LATEST:-$(npm view pnpm version 2>/dev/null)}
work=$(mktemp -d "${TMPDIR:-/tmp}/qattn-pnpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
for version in "$pinned" "$latest"; do
  npm i --prefix "$work/pnpm-$version" "pnpm@$version" --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null
  copy=$work/repo-$version
  mkdir -p "$copy"
  git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$copy" 2>/dev/null || true
  log=$work/install-$version.log
  if (cd "$copy" && CI=true "$work/pnpm-$version/node_modules/.bin/pnpm" install --frozen-lockfile --prefer-offline) >"$log" 2>&1 \
     && [ -d "$copy/node_modules/.pnpm" ]; then
    echo "[check-pnpm] pnpm $version: pnpm install --frozen-lockfile passed"
  else
    tail -20 "$log"; echo "[check-pnpm] pnpm $version: pnpm install --frozen-lockfile FAILED" >&2; exit 1
  fi
done
