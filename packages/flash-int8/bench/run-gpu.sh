#!/usr/bin/env bash
# The whole GPU-host run of flash-int8 (staged as .gpu/run.sh): static SASS counts of the addon (cuobjdump), tests
# with QATTN_EXPECT_CUDA=1, the benchmark next to PyTorch SDPA in the same run, optionally the tile sweep, then
# compute-sanitizer memcheck and racecheck on small shapes. Logs go to $OUT.
set -uo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/qattn-out}
mkdir -p "$OUT"
xz -dc node-v20.20.2-linux-x64.xz > /tmp/node && chmod +x /tmp/node
export QATTN_CUDA_RUNTIME_ADDON=$PWD/qattn_cuda_runtime.node QATTN_FLASH_INT8_ADDON=$PWD/qattn_flash_int8.node QATTN_EXPECT_CUDA=1
status=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv
if [ "${SKIP_SASS:-0}" != 1 ] && command -v cuobjdump > /dev/null; then
  echo "== SASS (sm_90a): per attention kernel, MMA opcodes and local-memory spills"
  cuobjdump -sass -arch sm_90a qattn_flash_int8.node | python3 -c '
import collections, re, sys
name, counts = None, collections.OrderedDict()
for line in sys.stdin:
    m = re.search(r"Function : (\S+)", line)
    if m:
        name = m.group(1)
        counts[name] = collections.Counter()
        continue
    m = re.search(r"\b(IMMA\S*|HMMA\S*|LDL\S*|STL\S*)\s", line)
    if name and m:
        counts[name][m.group(1)] += 1
for name, c in counts.items():
    if "attn_fwd" in name:
        print(name, " ".join(f"{k}={v}" for k, v in sorted(c.items())))
' | tee "$OUT/sass-counts.txt"
fi
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  echo "== tests"; timeout 300 /tmp/node --test --test-reporter=spec gpu-tests.mjs 2>&1 | tee "$OUT/tests.log" | grep -E "^\s*(✖|ℹ|▶ flash|\[flash)|relL2|fail|pass" | head -120 || true
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  echo "== benchmark"
  rm -f "$OUT/bench.jsonl"
  timeout 300 /tmp/node bench-cuda.mjs "$OUT/bench.jsonl" > "$OUT/bench.log" 2>&1 || { status=1; tail -5 "$OUT/bench.log"; }
  # A previous build staged as qattn_flash_int8_before.node is timed in the same run (before/after table).
  if [ -f qattn_flash_int8_before.node ]; then
    QATTN_FLASH_INT8_ADDON=$PWD/qattn_flash_int8_before.node QATTN_BENCH_PREFIX=before timeout 150 /tmp/node bench-cuda.mjs "$OUT/bench.jsonl" \
      >> "$OUT/bench.log" 2>&1 || { status=1; tail -5 "$OUT/bench.log"; }
  fi
  PYTHONUNBUFFERED=1 timeout 200 python3 sdpa_bench.py "$OUT/bench.jsonl" >> "$OUT/bench.log" 2>&1 || { status=1; tail -5 "$OUT/bench.log"; }
  python3 report.py "$OUT/bench.jsonl" | tee "$OUT/table.md"
fi
# Tile alternatives (needs a QATTN_TILE_EXPERIMENTS build): TILE_SWEEP=1.
if [ "${TILE_SWEEP:-0}" = 1 ]; then
  echo "== tile sweep"
  QATTN_TILE_SWEEP=1 timeout 120 /tmp/node bench-cuda.mjs > "$OUT/tile-sweep.log" 2>&1; cat "$OUT/tile-sweep.log"
fi
if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
  for tool in memcheck racecheck; do
    echo "== compute-sanitizer --tool $tool"
    timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 /tmp/node sanitize.mjs > "$OUT/sanitize-$tool.log" 2>&1
    rc=$?; tail -3 "$OUT/sanitize-$tool.log"; echo "exit $rc"; [ $rc = 0 ] || status=1
  done
fi
exit $status
