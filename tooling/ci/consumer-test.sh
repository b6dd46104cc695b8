#!/usr/bin/env bash
# The packages as a user gets them: packs every publishable package (pnpm pack: workspace: ranges become versions),
# installs the tarballs with plain npm into a fresh project outside the workspace, and checks
#   - the README example as ESM and as CJS (cpu), and the typed exports (publint, @arethetypeswrong/cli);
#   - the CUDA backend: with built addons (build/Release/*.node from this build, or the ones tooling/ci/build-prebuilt.sh
#     put in npm/*/) the platform packages carry them and the backend answers "no CUDA device" on a GPU-less machine;
#     without, the error names `npx qattn-build-cuda <package>`, and that bin runs from node_modules;
#   - esbuild bundles the WebGPU path for platform=browser with no Node built-in.
# QATTN_CONSUMER_NO_ADDONS=1 checks the no-addon path on a machine with nvcc. Needs the workspace built (dist/). Run by tooling/scripts/qattn.sh test after the unit tests; ~1 min warm.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/qattn-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
tarballs=$work/tarballs
mkdir -p "$tarballs" "$work/stage" "$work/app"
step() { echo "[consumer-test] $*"; }

step "platform packages in sync with their owners"
node tooling/scripts/native-packages.mjs check
native_json=$(node tooling/scripts/native-packages.mjs list)

# Publishable: every workspace package under packages/ that is not private.
mapfile -t packages < <(for dir in packages/*/; do
  node -e 'const p=require(process.argv[1]); if (!p.private) console.log(process.argv[2])' "$root/$dir/package.json" "${dir%/}"
done)

step "publint and attw on ${#packages[@]} packages"
lint_failed=0
for dir in "${packages[@]}"; do
  (cd "$dir" && pnpm pack --pack-destination "$tarballs" >/dev/null)
  pnpm exec publint --strict "$dir" >"$work/publint.log" 2>&1 || { cat "$work/publint.log"; lint_failed=1; }
done
for tarball in "$tarballs"/*.tgz; do
  pnpm exec attw --quiet "$tarball" || { pnpm exec attw "$tarball" || true; lint_failed=1; }
done

# Platform packages: a copy each, with the addon when one is built (npm/*/ from build-prebuilt.sh, else build/Release).
staged='{}'
while IFS=$'\t' read -r name owner_dir addon platform_dir; do
  stage=$work/stage/$(basename "$platform_dir")
  cp -r "$platform_dir" "$stage"
  rm -rf "$stage/node_modules"
  if [ "${QATTN_CONSUMER_NO_ADDONS:-}" = 1 ]; then rm -f "$stage/$addon"
  elif [ ! -f "$stage/$addon" ] && [ -f "$owner_dir/build/Release/$addon" ]; then cp "$owner_dir/build/Release/$addon" "$stage/"; fi
  has_addon=false; [ -f "$stage/$addon" ] && has_addon=true
  staged=$(node -p 'JSON.stringify({ ...JSON.parse(process.argv[1]), [process.argv[2]]: process.argv[3] === "true" })' "$staged" "$name" "$has_addon")
  pnpm exec publint --strict "$stage" >"$work/publint.log" 2>&1 || { cat "$work/publint.log"; lint_failed=1; }
  (cd "$stage" && npm pack --silent --pack-destination "$tarballs" >/dev/null)
done < <(node -e 'for (const o of JSON.parse(process.argv[1])) for (const p of o.platforms) console.log([o.name, o.dir, o.addon, p.dir].join("\t"))' "$native_json")
[ "$lint_failed" = 0 ] || { echo "[consumer-test] publint/attw failed" >&2; exit 1; }
step "addons in the platform packages: $staged ($(ls "$tarballs" | wc -l) tarballs)"

# A project outside the workspace: every tarball a file: dependency (so npm never asks the registry for @qattn/*),
# esbuild from the registry (--prefer-offline: the cache first).
cp tooling/ci/consumer/* "$work/app/"
esbuild_range=$(node -p 'require("./packages/flash-int8/package.json").devDependencies.esbuild')
node -e '
  const fs = require("fs"); const path = require("path");
  const deps = {};
  for (const file of fs.readdirSync(process.argv[1])) {
    const manifest = JSON.parse(require("child_process").execFileSync("tar", ["-xOzf", path.join(process.argv[1], file), "package/package.json"]));
    deps[manifest.name] = "file:" + path.join(process.argv[1], file);
  }
  fs.writeFileSync(process.argv[2], JSON.stringify({ name: "qattn-consumer", private: true, dependencies: deps,
    devDependencies: { esbuild: process.argv[3] } }, null, 2));
' "$tarballs" "$work/app/package.json" "$esbuild_range"
step "npm install"
(cd "$work/app" && npm install --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)

cd "$work/app"
step "README example (ESM, CJS)"
node example.mjs
node example.cjs
step "CUDA backend"
node cuda-check.mjs "$(node -e 'const staged = JSON.parse(process.argv[2]); console.log(JSON.stringify(JSON.parse(process.argv[1]).map(({ name, addon }) => ({ name, addon, prebuilt: staged[name] }))))' "$native_json" "$staged")"
npx --no-install qattn-build-cuda --help >/dev/null
step "esbuild, platform=browser"
npx --no-install esbuild browser-entry.mjs --bundle --platform=browser --format=esm --outfile=bundle.js --log-level=error
if grep -Eq '(from|require\(|import\()\s*"(node:)?(fs|path|module|url|child_process|os)"' bundle.js; then
  echo "[consumer-test] the browser bundle imports a Node built-in" >&2
  exit 1
fi
step "passed: $(du -k bundle.js | cut -f1) KiB browser bundle"
