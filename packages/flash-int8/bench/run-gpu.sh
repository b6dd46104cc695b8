#!/usr/bin/env bash
# The whole GPU-host run of flash-int8 (staged as .gpu/run.sh): tests with QATTN_EXPECT_CUDA=1, compute-sanitizer
# memcheck and racecheck on small shapes, then the benchmark next to PyTorch SDPA in the same run. Logs go to $OUT.
set -uo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/qattn-out}
mkdir -p "$OUT"
xz -dc node-v20.20.2-linux-x64.xz > /tmp/node && chmod +x /tmp/node
export QATTN_CUDA_RUNTIME_ADDON=$PWD/qattn_cuda_runtime.node QATTN_FLASH_INT8_ADDON=$PWD/qattn_flash_int8.node QATTN_EXPECT_CUDA=1
status=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv | tee "$OUT/env.txt"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  echo "== tests"; timeout 300 /tmp/node --test --test-reporter=spec gpu-tests.mjs 2>&1 | tee "$OUT/tests.log" | grep -E "^\s*(✖|ℹ|▶ flash|\[flash)|relL2|fail|pass" | head -120 || true
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
  for tool in memcheck racecheck; do
    echo "== compute-sanitizer --tool $tool"
    timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 /tmp/node sanitize.mjs > "$OUT/sanitize-$tool.log" 2>&1
    rc=$?; tail -3 "$OUT/sanitize-$tool.log"; echo "exit $rc"; [ $rc = 0 ] || status=1
  done
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  echo "== benchmark"
  rm -f "$OUT/bench.jsonl"
  timeout 300 /tmp/node bench-cuda.mjs "$OUT/bench.jsonl" > "$OUT/bench-int8.log" 2>&1 || { status=1; tail -5 "$OUT/bench-int8.log"; }
  PYTHONUNBUFFERED=1 timeout 200 python3 sdpa_bench.py "$OUT/bench.jsonl" > "$OUT/bench-sdpa.log" 2>&1 || { status=1; tail -5 "$OUT/bench-sdpa.log"; }
  python3 report.py "$OUT/bench.jsonl" | tee "$OUT/table.md"
fi
exit $status
