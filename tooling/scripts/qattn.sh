#!/usr/bin/env bash
# Entry point of the README's two commands: works on a fresh machine that has only Node ≥ 20 and npm.
#   bash tooling/scripts/qattn.sh bench [args…]   install, build, run the quick benchmark (the main job)
#   bash tooling/scripts/qattn.sh test            install, build, run every package's tests
set -euo pipefail
cd "$(dirname "$0")/../.."
PNPM_VERSION=10.34.9

# corepack's pnpm fails its signature check on Node 20, so pnpm comes from npm.
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  npm i -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || {
    mkdir -p .pnpm-bin && npm i --prefix .pnpm-bin "pnpm@$PNPM_VERSION" >/dev/null
    export PATH="$PWD/.pnpm-bin/node_modules/.bin:$PATH"
  }
fi

# The CUDA addons' build cache key includes the toolkit version (turbo.json globalEnv): a new nvcc rebuilds them.
if [ -z "${QATTN_CUDA_VERSION:-}" ]; then
  nvcc_bin=$(command -v nvcc || echo "${CUDA_PATH:-/usr/local/cuda}/bin/nvcc")
  if [ -x "$nvcc_bin" ]; then
    QATTN_CUDA_VERSION=$("$nvcc_bin" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
    export QATTN_CUDA_VERSION
  fi
fi

cmd=${1:-test}
shift || true
pnpm install --frozen-lockfile --reporter=append-only >/dev/null || pnpm install --frozen-lockfile
case "$cmd" in
  bench)
    pnpm exec turbo run build --output-logs=errors-only
    node apps/bench/bin/qattn-bench.mjs "$@"
    ;;
  test)
    rm -rf packages/*/.vitest-reports apps/*/.vitest-reports tests/*/.vitest-reports
    status=0
    pnpm exec turbo run test --continue --output-logs=new-only "$@" || status=$?
    # The packages as npm users get them (tooling/ci/consumer-test.sh, ~1 min); before the summary, which stays last.
    if [ "${QATTN_SKIP_CONSUMER_TEST:-}" != 1 ]; then
      consumer_log=$(mktemp)
      bash tooling/ci/consumer-test.sh >"$consumer_log" 2>&1 && echo "consumer test: passed" || {
        cat "$consumer_log"; echo "consumer test: FAILED"; status=1; }
      rm -f "$consumer_log"
    fi
    node tooling/scripts/summarize-tests.mjs || status=1
    exit $status
    ;;
  *)
    echo "usage: qattn.sh bench|test [args]" >&2
    exit 2
    ;;
esac
