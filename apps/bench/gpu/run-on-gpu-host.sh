#!/usr/bin/env bash
# The one command a CUDA host without Node.js runs, from a folder staged by apps/bench/gpu/stage.sh. Logs and reports
# go to $OUT (the device machine's output folder; ./gpu-out elsewhere). Usage: bash .gpu/run-on-gpu-host.sh <mode> …
#   tests                  every package's GPU tests (bench/dist/*.gpu-tests.mjs) under node:test, QATTN_EXPECT_CUDA=1
#                          → tests-<package>.log; on a 9.0 device flash-int8's and turbo-attn's again on the sm80
#                          kernel (→ tests-<package>-sm80.log) and on the sm90a kernel once per consumer schedule
#                          (QATTN_SM90_SCHEDULES, default "serial overlap pingpong"; empty: none)
#                          → tests-<package>-sm90-<schedule>.log
#   sanitize [tool…]       compute-sanitizer memcheck, racecheck and synccheck (or the tools named) on the workload
#                          `qattn-bench --preset sanitize` → sanitize-<tool>.log (-<path>-<schedule> appended when
#                          QATTN_CUDA_ARCH_PATH / QATTN_SM90_SCHEDULE are set, e.g. to sanitize the sm90a kernel)
#   sass                   static SASS counts of the attention kernels (MMA opcodes, spills) → sass-counts.txt
#   profile [args…]        Nsight Compute on `qattn-bench --preset profile [args…]` (one attn_fwd launch; another
#                          preset and QATTN_PROFILE_KERNEL=<regex> profile e.g. the decode) → profile.ncu-rep, profile.log,
#                          profile-details.txt, profile-source.csv (per-SASS-instruction counts and stall samples)
#   fuzz [args…]           the seeded fuzz suite (tests/fuzz) → fuzz.log, e.g. fuzz --shapes 500 --backends cuda,webgpu,cpu
#                          --seed 1 (exit 1 on any failure; each failure prints the seed and case that replay it)
#   soak [args…]           the leak soak (tests/fuzz) → soak.log, e.g. soak --calls 10000 --backends cuda,webgpu,cpu
#   bench [name] [args…]   `qattn-bench [args…]` → <name>.json, <name>.md, <name>.log, <name>.command.txt; the name
#                          is the first argument unless it starts with '-', else the preset (quick by default)
#                          (QATTN_NODE_FLAGS: extra Node flags, e.g. --cpu-prof --cpu-prof-dir=DIR)
#   probe [args…]          the decode kernel's timeline probe (staged with QATTN_STAGE_PROBES=1), once per argument
#                          set separated by ';', e.g. probe 'int4 16384; int8 65536; int4 16384 0 4 50 0' → probe.log,
#                          and the same with the warm-merge build → probe-warm.log (decode_timeline.cu has the arguments)
#   all                    tests, sanitize, sass, then `bench h200-paper --preset paper --peers --backends cuda` and
#                          `bench h200-overhead --preset overhead`
# e.g. bash .gpu/run-on-gpu-host.sh bench h200-paper --preset paper --peers --backends cuda
#      bash .gpu/run-on-gpu-host.sh bench h200-schedules --preset schedules
#      bash .gpu/run-on-gpu-host.sh bench h200-decode-cache --preset decode-cache --peers --backends cuda
# Exit status: non-zero when any step failed (every step of `all` runs regardless).
set -uo pipefail
stage=$(cd "$(dirname "$0")" && pwd)
mode=${1:-}
shift || true
case "$mode" in
  tests | sanitize | sass | profile | bench | fuzz | soak | probe | all) ;;
  *)
    awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" >&2
    exit 2
    ;;
esac
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
cuda_bin=${CUDA_HOME:-/usr/local/cuda}/bin

# Node: unpacked once per host.
node=${QATTN_NODE:-/tmp/qattn-node}
if [ ! -x "$node" ]; then
  xz -dc "$stage/node-v20.20.2-linux-x64.xz" > "$node.tmp" && chmod +x "$node.tmp" && mv "$node.tmp" "$node"
fi

# The bundles and their compressed addons and Dawn are unpacked into a work folder, so the staged folder stays as
# carried; the bundles find the addons beside them (bench/build/Release) and Dawn in bench/node_modules.
work=${QATTN_HOST_WORK:-/tmp/qattn-gpu}
rm -rf "$work" && mkdir -p "$work" && cp -r "$stage/bench" "$work/"
find "$work/bench" -name '*.xz' | while read -r packed; do xz -dc "$packed" > "${packed%.xz}" && rm "$packed"; done
bench=$work/bench

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
[ -f "$bench/meta.env" ] && source "$bench/meta.env"
export QATTN_PEERS_SCRIPT="$bench/peers/sdpa_peers.py"
cli="$bench/dist/qattn-bench.mjs"

tool_path() { command -v "$1" 2>/dev/null || { [ -x "$cuda_bin/$1" ] && echo "$cuda_bin/$1"; }; }
header() { echo "# $(date -u +%FT%TZ) on $(hostname): node $("$node" --version), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"; }

run_tests() {
  local status=0 found=0 file name rc
  for file in "$bench"/dist/*.gpu-tests.mjs; do
    [ -f "$file" ] || continue
    found=1
    name=$(basename "$file" .gpu-tests.mjs)
    echo "== tests: $name"
    { header; QATTN_EXPECT_CUDA=1 "$node" --test --test-reporter=spec "$file"; } > "$out/tests-$name.log" 2>&1
    rc=$?
    grep -E '^ℹ (tests|pass|fail|skipped)' "$out/tests-$name.log" || tail -5 "$out/tests-$name.log"
    echo "exit $rc"
    [ $rc = 0 ] || status=1
  done
  [ $found = 1 ] || { echo "no bench/dist/*.gpu-tests.mjs staged"; status=1; }
  # On a 9.0 device (where the default is the sm90 path with its default schedule, arch_path.h) the attention suites
  # run again on the sm80 kernel (QATTN_CUDA_ARCH_PATH=sm80) → tests-<package>-sm80.log, and on the sm90a kernel once
  # per consumer schedule (QATTN_SM90_SCHEDULES, default all three) → tests-<package>-sm90-<schedule>.log.
  if [ "$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1)" = "9.0" ]; then
    local variant log
    for variant in sm80 ${QATTN_SM90_SCHEDULES-serial overlap pingpong}; do
      local env=(QATTN_CUDA_ARCH_PATH=sm80) suffix=sm80
      [ "$variant" = sm80 ] || { env=(QATTN_CUDA_ARCH_PATH=sm90 "QATTN_SM90_SCHEDULE=$variant"); suffix=sm90-$variant; }
      for name in flash-int8 turbo-attn; do
        file=$bench/dist/$name.gpu-tests.mjs
        [ -f "$file" ] || continue
        log=$out/tests-$name-$suffix.log
        echo "== tests: $name (${env[*]})"
        { header; env "${env[@]}" QATTN_EXPECT_CUDA=1 "$node" --test --test-reporter=spec "$file"; } > "$log" 2>&1
        rc=$?
        grep -E '^ℹ (tests|pass|fail|skipped)' "$log" || tail -5 "$log"
        echo "exit $rc"
        [ $rc = 0 ] || status=1
      done
    done
  fi
  return $status
}

run_sanitize() {
  local sanitizer status=0 tool rc
  local tools=("$@")
  [ ${#tools[@]} -gt 0 ] || tools=(memcheck racecheck synccheck)
  sanitizer=$(tool_path compute-sanitizer) || { echo "compute-sanitizer not found (PATH, $cuda_bin)"; return 1; }
  # The kernel path and schedule in the environment name the log: sanitize-<tool>[-<path>][-<schedule>].log.
  local suffix=${QATTN_CUDA_ARCH_PATH:+-$QATTN_CUDA_ARCH_PATH}${QATTN_SM90_SCHEDULE:+-$QATTN_SM90_SCHEDULE}
  for tool in "${tools[@]}"; do
    echo "== compute-sanitizer --tool $tool${suffix:+ ($suffix)}"
    { header; QATTN_EXPECT_CUDA=1 "$sanitizer" --tool "$tool" --error-exitcode 9 "$node" "$cli" --preset sanitize --no-progress; } > "$out/sanitize-$tool$suffix.log" 2>&1
    rc=$?
    grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|[0-9]+ calls:' "$out/sanitize-$tool$suffix.log" || tail -3 "$out/sanitize-$tool$suffix.log"
    echo "exit $rc"
    [ $rc = 0 ] || status=1
  done
  return $status
}

run_sass() {
  local addons=("$bench"/build/Release/*.node)
  [ -f "${addons[0]}" ] || { echo "no addons staged"; return 1; }
  echo "== SASS (sm_90a): attention kernels, MMA opcodes and local-memory spills"
  python3 "$bench/sass_counts.py" --arch sm_90a "${addons[@]}" | tee "$out/sass-counts.txt"
}

run_profile() {
  local ncu
  ncu=$(tool_path ncu) || { echo "ncu (Nsight Compute) not found (PATH, $cuda_bin)"; return 1; }
  # Another workload and kernel: pass --preset (e.g. decode-cache) and set QATTN_PROFILE_KERNEL (a regex, e.g.
  # decode_split), QATTN_PROFILE_LAUNCHES (launches profiled, default 1) and QATTN_PROFILE_SKIP (matching launches skipped
  # first, default 0: a preset's first launch may be a small warm-up or probe).
  local preset=(--preset profile)
  case " $* " in *" --preset "* | *" -p "* | *" --preset="*) preset=() ;; esac
  echo "== ncu on ${preset[*]} $*"
  "$ncu" --kernel-name "regex:${QATTN_PROFILE_KERNEL:-attn_fwd}" --launch-skip "${QATTN_PROFILE_SKIP:-0}" --launch-count "${QATTN_PROFILE_LAUNCHES:-1}" --set full -f \
    -o "$out/profile" "$node" "$cli" "${preset[@]}" --no-progress "$@" 2>&1 | tee "$out/profile.log"
  # The sections as text too (the host that reads the logs may have no Nsight Compute).
  "$ncu" --import "$out/profile.ncu-rep" --page details > "$out/profile-details.txt" 2>&1
  "$ncu" --import "$out/profile.ncu-rep" --page source --print-source sass --csv > "$out/profile-source.csv" 2>&1 || true
}

run_bench() {
  local name preset
  if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    name=$1
    shift
  else
    preset=quick
    local previous=''
    for arg in "$@"; do
      case "$previous" in -p | --preset) preset=$arg ;; esac
      case "$arg" in --preset=*) preset=${arg#--preset=} ;; esac
      previous=$arg
    done
    name=$preset
  fi
  local args=(--no-progress --json "$out/$name.json" --md "$out/$name.md" "$@")
  printf 'qattn-bench %s\n' "${args[*]//$out\//}" > "$out/$name.command.txt"
  echo "== qattn-bench ${args[*]}"
  # QATTN_NODE_FLAGS: extra Node flags, e.g. --cpu-prof --cpu-prof-dir=… to profile the host side of a preset.
  # shellcheck disable=SC2086
  { header; "$node" ${QATTN_NODE_FLAGS:-} "$cli" "${args[@]}"; } 2>&1 | tee "$out/$name.log"
  return "${PIPESTATUS[0]}"
}

run_probe() {
  [ -f "$bench/probe/decode_timeline" ] || { echo "no probe staged (QATTN_STAGE_PROBES=1 bash apps/bench/gpu/stage.sh)"; return 1; }
  local status=0 set
  IFS=';' read -ra sets <<< "$*"
  for set in "${sets[@]}"; do
    # shellcheck disable=SC2086  # an argument set is words
    "$bench/probe/decode_timeline" $set >> "$out/probe.log" 2>&1 || status=1
    "$bench/probe/decode_timeline_warm" $set >> "$out/probe-warm.log" 2>&1 || status=1
  done
  grep -h "event" "$out/probe.log" "$out/probe-warm.log"
  return $status
}

run_cli() {
  local name=$1
  shift
  [ -f "$bench/dist/qattn-$name.mjs" ] || { echo "bench/dist/qattn-$name.mjs is not staged"; return 1; }
  { header; "$node" --expose-gc "$bench/dist/qattn-$name.mjs" "$@"; } 2>&1 | tee "$out/$name.log"
  return "${PIPESTATUS[0]}"
}

case "$mode" in
  tests) run_tests ;;
  fuzz | soak) run_cli "$mode" "$@" ;;
  sanitize) run_sanitize "$@" ;;
  sass) run_sass ;;
  profile) run_profile "$@" ;;
  bench) run_bench "$@" ;;
  probe) run_probe "$@" ;;
  all)
    status=0
    run_tests || status=1
    run_sanitize || status=1
    run_sass || status=1
    run_bench h200-paper --preset paper --peers --backends cuda || status=1
    run_bench h200-overhead --preset overhead || status=1
    exit $status
    ;;
esac
